//! `POST /images/prune` and `POST /build/prune`: the manager's prune of
//! images (dangling ones, or with `dangling=false` / `all` every one no
//! container uses), under the same filters as `berth image prune` and
//! `berth builder prune` (`berth_supervisor::prune_filters`).

use std::sync::Arc;

use berth_proto::manager::{PruneRequest, PruneResponse};
use berth_supervisor::filters::Filters;
use berth_supervisor::prune_filters::{self, PruneKind};
use hyper::StatusCode;
use serde_json::json;

use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// Runs the manager's image prune that the query's filters (of `kind`)
/// and `all` ask for.
async fn prune_images(
    e: &Arc<Engine>,
    q: &Query,
    kind: PruneKind,
    all: bool,
) -> Result<PruneResponse, ApiError> {
    let raw = q.get("filters");
    let filter = prune_filters::from_query(raw, kind)?;
    let filters = match raw.map(str::trim).filter(|j| !j.is_empty()) {
        Some(j) => Filters::from_json(j)?,
        None => Filters::default(),
    };
    let mut r = PruneRequest::new();
    r.keep_containers = true;
    r.all_images = prune_filters::all_images(&filters, all);
    r.filter = Some(filter).into();
    let m = e.manager().await;
    Ok(m.system.prune(m.ctx(), &r).await.map_err(|x| m.err(x))?)
}

/// `POST /images/prune?filters=`.
pub async fn images(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let p = prune_images(e, q, PruneKind::Images, false).await?;
    let deleted: Vec<_> = p
        .images_deleted
        .iter()
        .map(|i| json!({"Deleted": i}))
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({"ImagesDeleted": deleted, "SpaceReclaimed": p.space_reclaimed}),
    ))
}

/// `POST /build/prune?all&filters=`: berth's build cache is its untagged
/// step images.
pub async fn build_cache(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let all = q.flag("all")?;
    let p = prune_images(e, q, PruneKind::Builder, all).await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"CachesDeleted": p.images_deleted, "SpaceReclaimed": p.space_reclaimed}),
    ))
}
