//! `GET /images/search?term=&limit=&filters=`: the CLI's index search
//! ([`berth_supervisor::index`]), its results as the API's JSON array.

use berth_supervisor::index::{self, SearchFilter};
use hyper::StatusCode;

use crate::error::ApiError;
use crate::http::{self, Query, Resp};

/// `GET /images/search`.
pub async fn search(q: &Query) -> Result<Resp, ApiError> {
    let term = q.get("term").unwrap_or_default();
    if term.is_empty() {
        return Err(ApiError::bad_request("a search term is needed (term=)"));
    }
    let limit = q.int("limit")?.unwrap_or(25);
    let filters = q.filters()?;
    let pairs = filters
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())));
    let filter = SearchFilter::new(pairs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match index::search(term, limit, &filter).await {
        Ok(results) => Ok(http::json(StatusCode::OK, &results)),
        Err(e @ (index::IndexError::Filter(_) | index::IndexError::Limit(_))) => {
            Err(ApiError::bad_request(e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}
