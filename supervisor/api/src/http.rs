//! The HTTP side every endpoint shares: the response body type (whole or
//! streamed), JSON responses, query parameters as docker's clients send
//! them, and request bodies read with a size bound.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::ApiError;

/// A response body: whole, or chunks as they come.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;

/// The largest JSON request body read (a create with every option is a few KiB).
const MAX_JSON_BODY: usize = 4 << 20;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e| match e {}).boxed_unsync()
}

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn text(status: StatusCode, t: &str) -> Resp {
    let mut r = Response::new(full(t.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Content-Type", "text/plain; charset=utf-8".parse().unwrap());
    r
}

pub fn json(status: StatusCode, v: &impl Serialize) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec());
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Content-Type", "application/json".parse().unwrap());
    r
}

/// An error as docker sends it.
pub fn error(e: &ApiError) -> Resp {
    json(e.status, &serde_json::json!({ "message": e.message }))
}

/// A body fed by the returned sender, chunk by chunk; it ends when every
/// sender is dropped.  A client that hangs up makes `send` fail, which is
/// how a producer learns to stop.
pub fn channel(content_type: &str) -> (mpsc::Sender<Bytes>, Resp) {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())));
    r.headers_mut()
        .insert("Content-Type", content_type.parse().unwrap());
    (tx, r)
}

/// A request's query parameters; a name may repeat.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(map)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.last()).map(String::as_str)
    }

    pub fn all(&self, k: &str) -> &[String] {
        self.0.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    /// docker's boolean parameters: `1`/`true`/`True` are true, absent,
    /// empty, `0` and `false` are false, anything else is a 400.
    pub fn flag(&self, k: &str) -> Result<bool, ApiError> {
        match self.get(k) {
            None | Some("") | Some("0") | Some("false") | Some("False") => Ok(false),
            Some("1") | Some("true") | Some("True") => Ok(true),
            Some(v) => Err(ApiError::bad_request(format!(
                "invalid value for {k}: {v:?} (1, true, 0 or false)"
            ))),
        }
    }

    /// An integer parameter, `None` when absent or empty.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for {k}: {v:?} (an integer)"))
            }),
        }
    }

    /// docker's `filters` parameter: `{"name":["a"]}`, or the older
    /// `{"name":{"a":true}}`, as name → values.
    pub fn filters(&self) -> Result<HashMap<String, Vec<String>>, ApiError> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(HashMap::new());
        };
        let bad = |why: &str| ApiError::bad_request(format!("invalid filters {raw:?}: {why}"));
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let mut out = HashMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(String::from))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("values must be strings"))?,
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => return Err(bad("values must be a list")),
            };
            out.insert(k.clone(), list);
        }
        Ok(out)
    }
}

/// A request's whole body, refused past `MAX_JSON_BODY`.
pub async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_JSON_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("read request body: {e}")))
}

/// A request's whole body, leaving the request (its upgrade) in place.
pub async fn read_body_ref(req: &mut Request<Incoming>) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.body_mut(), MAX_JSON_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("read request body: {e}")))
}

/// A JSON request body as `T`; an empty body is `T`'s default.
pub fn parse_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_in_both_spellings() {
        let q = Query::parse(Some(
            "filters=%7B%22status%22%3A%5B%22running%22%5D%2C%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D&all=1",
        ));
        let f = q.filters().unwrap();
        assert_eq!(f["status"], ["running"]);
        assert_eq!(f["label"], ["a=b"]);
        assert!(q.flag("all").unwrap());
        assert!(!q.flag("size").unwrap());
        assert!(Query::parse(Some("all=maybe")).flag("all").is_err());
        assert!(Query::parse(Some("filters=%7Bx")).filters().is_err());
        assert!(Query::parse(Some("t=ten")).int("t").is_err());
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        #[derive(serde::Deserialize, Default)]
        struct B {
            #[allow(dead_code)]
            a: Option<u32>,
        }
        assert!(parse_json::<B>(b"").is_ok());
        let e = parse_json::<B>(b"{\"a\": \"x\"}").err().unwrap();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse_json::<B>(b"{").is_err());
    }
}
