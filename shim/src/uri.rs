//! The stdio URIs containerd hands a shim, plus berth's json-file logs.
//!
//! - `""`: nothing (the process gets /dev/null);
//! - `/path` or `fifo:///path`: a FIFO the client reads or writes;
//! - `file:///path`: output appended to a file as is;
//! - `file:///path?format=json`: berth's extension, docker's json-file lines
//!   `{"log":"…\n","stream":"stdout","time":"RFC3339Nano"}`, with
//!   `&max-size=BYTES&max-file=N` kept within those bounds by rotation;
//! - `binary:///path?k=v`: containerd's logging-binary protocol.

use std::path::PathBuf;

use berth_jsonlog::rotate::Rotation;

/// Where a process's output goes (or its input comes from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// /dev/null.
    Null,
    /// A FIFO.
    Fifo(PathBuf),
    /// A regular file, appended to.
    File {
        /// The file.
        path: PathBuf,
        /// Docker json-file lines instead of raw bytes.
        json: bool,
        /// Bounds of a json-file log (`None`: it grows without bound).
        rotate: Option<Rotation>,
    },
    /// A logging binary and its arguments.
    Binary {
        /// The program.
        path: PathBuf,
        /// `key value` pairs from the query, in order.
        args: Vec<String>,
    },
}

/// A stdio URI the shim cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    /// A scheme other than fifo, file and binary.
    #[error(
        "stdio uri {0:?}: unsupported scheme (expected a path, fifo://, file:// or binary://)"
    )]
    Scheme(String),
    /// A relative path.
    #[error("stdio uri {0:?}: the path must be absolute")]
    Relative(String),
    /// A `file://` option the shim does not know.
    #[error("stdio uri {0:?}: unknown option {1:?} (format=json, max-size, max-file)")]
    Option(String, String),
}

impl Target {
    /// Parses one stdio URI.
    pub fn parse(uri: &str) -> Result<Target, UriError> {
        if uri.is_empty() {
            return Ok(Target::Null);
        }
        let (scheme, rest) = match uri.split_once("://") {
            Some((s, r)) => (s, r),
            None => ("fifo", uri),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, q),
            None => (rest, ""),
        };
        if !matches!(scheme, "fifo" | "file" | "binary") {
            return Err(UriError::Scheme(uri.to_string()));
        }
        let path = percent_decode(path);
        if !path.starts_with('/') {
            return Err(UriError::Relative(uri.to_string()));
        }
        let pairs =
            query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(kv), String::new()),
                });
        match scheme {
            "fifo" => Ok(Target::Fifo(PathBuf::from(path))),
            "file" => {
                let mut json = false;
                let (mut max_size, mut max_files) = (None, 1);
                for (k, v) in pairs {
                    let bad = || UriError::Option(uri.to_string(), format!("{k}={v}"));
                    match (k.as_str(), v.as_str()) {
                        ("format", "json") => json = true,
                        ("max-size", n) => max_size = Some(n.parse().map_err(|_| bad())?),
                        ("max-file", n) => max_files = n.parse().map_err(|_| bad())?,
                        _ => return Err(bad()),
                    }
                }
                Ok(Target::File {
                    path: PathBuf::from(path),
                    json,
                    rotate: max_size.filter(|_| json).map(|max_size| Rotation {
                        max_size,
                        max_files,
                    }),
                })
            }
            "binary" => Ok(Target::Binary {
                path: PathBuf::from(path),
                args: pairs
                    .flat_map(|(k, v)| if v.is_empty() { vec![k] } else { vec![k, v] })
                    .collect(),
            }),
            _ => Err(UriError::Scheme(uri.to_string())),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_and_berth_uris() {
        assert_eq!(Target::parse(""), Ok(Target::Null));
        assert_eq!(
            Target::parse("/run/fifo/x-stdout"),
            Ok(Target::Fifo("/run/fifo/x-stdout".into()))
        );
        assert_eq!(
            Target::parse("file:///var/log/c.log"),
            Ok(Target::File {
                path: "/var/log/c.log".into(),
                json: false,
                rotate: None
            })
        );
        assert_eq!(
            Target::parse("file:///var/log/c%20d.log?format=json"),
            Ok(Target::File {
                path: "/var/log/c d.log".into(),
                json: true,
                rotate: None
            })
        );
        assert_eq!(
            Target::parse("file:///l?format=json&max-size=1048576&max-file=3"),
            Ok(Target::File {
                path: "/l".into(),
                json: true,
                rotate: Some(Rotation {
                    max_size: 1 << 20,
                    max_files: 3
                })
            })
        );
        assert_eq!(
            Target::parse("binary:///usr/bin/logger?tag=web&debug"),
            Ok(Target::Binary {
                path: "/usr/bin/logger".into(),
                args: vec!["tag".into(), "web".into(), "debug".into()]
            })
        );
    }

    #[test]
    fn bad_uris_are_refused() {
        assert!(matches!(
            Target::parse("tcp://1.2.3.4:5"),
            Err(UriError::Scheme(_))
        ));
        assert!(matches!(
            Target::parse("relative/fifo"),
            Err(UriError::Relative(_))
        ));
        assert!(matches!(
            Target::parse("file:///x?format=xml"),
            Err(UriError::Option(..))
        ));
        assert!(matches!(
            Target::parse("file:///x?format=json&max-size=1m"),
            Err(UriError::Option(..))
        ));
    }
}
