//! Registry credentials over the API: `POST /auth` (docker login) checks
//! them against the registry with the library function `berth login`
//! uses (the service stores nothing: docker's client keeps them), and
//! the `X-Registry-Auth` header of pull and push (base64url JSON of an
//! auth config) carries them to the manager with the request.

use std::sync::Arc;

use base64::Engine as _;
use berth_supervisor::auth::verify;
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::http::{self, Resp};
use crate::Engine;

/// docker's auth config (the body of `/auth`, the JSON of
/// `X-Registry-Auth`); identity tokens are not supported.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
    pub serveraddress: String,
    pub identitytoken: String,
}

/// The username and password of the request's `X-Registry-Auth` (empty
/// when absent: the request goes anonymous). A header that is not
/// base64 JSON is a 400.
pub fn registry_auth(headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let Some(raw) = headers.get("X-Registry-Auth") else {
        return Ok(Default::default());
    };
    let raw = raw.to_str().unwrap_or_default().trim();
    if raw.is_empty() || raw == "e30=" || raw == "e30" {
        return Ok(Default::default());
    }
    let bad = || ApiError::bad_request("invalid X-Registry-Auth header: not base64 JSON");
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = URL_SAFE
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw))
        .or_else(|_| STANDARD.decode(raw))
        .map_err(|_| bad())?;
    let a: AuthConfig = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((a.username, a.password))
}

/// `POST /auth`.
pub async fn login(e: &Arc<Engine>, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let a: AuthConfig = http::parse_json(&body)?;
    if a.username.is_empty() || a.password.is_empty() {
        return Err(ApiError::bad_request(
            "login needs a username and a password (identity tokens are not supported)",
        ));
    }
    let m = e.manager().await;
    verify(&m, &a.serveraddress, &a.username, &a.password).await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(registry_auth(&h).unwrap(), (String::new(), String::new()));
        let enc = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"username":"u","password":"p?>","serveraddress":"r:5000"}"#);
        h.insert("X-Registry-Auth", enc.parse().unwrap());
        assert_eq!(registry_auth(&h).unwrap(), ("u".into(), "p?>".into()));
        h.insert("X-Registry-Auth", "!!!".parse().unwrap());
        assert_eq!(
            registry_auth(&h).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
