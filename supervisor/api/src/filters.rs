//! The list endpoints' `filters` parameter read by the shared filters
//! module (`berth_supervisor::filters`), so `GET /containers/json` and
//! `GET /images/json` select exactly as `berth ps -f` and `berth images
//! -f` do, with docker's refusals as 400s.

use berth_supervisor::filters::{ContainerFilter, FilterError, Filters, ImageFilter};

use crate::error::ApiError;
use crate::http::Query;

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> ApiError {
        match e {
            FilterError::NoContainer(_) | FilterError::NoImage(_) => {
                ApiError::not_found(e.to_string())
            }
            _ => ApiError::bad_request(e.to_string()),
        }
    }
}

/// The request's filters (none when the parameter is absent or empty).
pub fn of(q: &Query) -> Result<Filters, ApiError> {
    match q.get("filters").filter(|s| !s.is_empty()) {
        Some(raw) => Ok(Filters::from_json(raw)?),
        None => Ok(Filters::default()),
    }
}

/// `GET /containers/json`'s filters, checked.
pub fn containers(q: &Query) -> Result<ContainerFilter, ApiError> {
    Ok(ContainerFilter::new(of(q)?)?)
}

/// `GET /images/json`'s filters, checked.
pub fn images(q: &Query) -> Result<ImageFilter, ApiError> {
    Ok(ImageFilter::new(of(q)?)?)
}
