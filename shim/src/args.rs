//! The shim's command line, as containerd writes it: Go `flag` style
//! (`-namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR]
//! [-debug] ACTION`), where ACTION is `start`, `delete` or nothing (serve).

use std::path::PathBuf;

/// What containerd asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Print the version and exit.
    Version,
    /// Print the runtime info (containerd 2.x `-info`) and exit.
    Info,
    /// Start a daemon that serves the task API and print its address.
    Start,
    /// Clean up after a dead shim and print a DeleteResponse.
    Delete,
    /// Serve the task API on the listener handed down as fd 3 (the daemon
    /// half of `start`).
    Serve,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The action.
    pub action: Action,
    /// containerd namespace of the task.
    pub namespace: String,
    /// containerd's (gRPC) address; part of the socket name.
    pub address: String,
    /// containerd binary that can publish events (`publish` subcommand).
    pub publish_binary: String,
    /// The task id (the sandbox id groups several containers in one shim).
    pub id: String,
    /// The bundle, for `delete` (defaults to the working directory).
    pub bundle: Option<PathBuf>,
    /// Log at debug level.
    pub debug: bool,
}

/// A command line the shim does not understand.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    /// `-flag` without its value.
    #[error("flag -{0} needs a value")]
    MissingValue(String),
    /// A flag containerd never passes.
    #[error("unknown flag -{0}")]
    UnknownFlag(String),
    /// An action other than start/delete.
    #[error("unknown action {0:?}: expected start or delete")]
    UnknownAction(String),
    /// A flag an action cannot do without.
    #[error("{action} needs -{flag}")]
    Required {
        /// The action.
        action: &'static str,
        /// The missing flag.
        flag: &'static str,
    },
}

const VALUE_FLAGS: &[&str] = &[
    "namespace",
    "address",
    "publish-binary",
    "id",
    "bundle",
    "socket",
];
const BOOL_FLAGS: &[&str] = &["debug", "v", "version", "info"];

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<Args, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut parsed = Args {
            action: Action::Serve,
            namespace: String::new(),
            address: String::new(),
            publish_binary: String::new(),
            id: String::new(),
            bundle: None,
            debug: false,
        };
        let (mut version, mut info) = (false, false);
        let mut action: Option<String> = None;
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                if action.is_none() {
                    action = Some(arg);
                }
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (flag.to_string(), None),
            };
            if BOOL_FLAGS.contains(&name.as_str()) {
                let on = inline.as_deref() != Some("false");
                match name.as_str() {
                    "debug" => parsed.debug = on,
                    "info" => info = on,
                    _ => version = on,
                }
                continue;
            }
            if !VALUE_FLAGS.contains(&name.as_str()) {
                return Err(ArgsError::UnknownFlag(name));
            }
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .ok_or_else(|| ArgsError::MissingValue(name.clone()))?,
            };
            match name.as_str() {
                "namespace" => parsed.namespace = value,
                "address" => parsed.address = value,
                "publish-binary" => parsed.publish_binary = value,
                "id" => parsed.id = value,
                "bundle" => parsed.bundle = Some(PathBuf::from(value)),
                // containerd 2.x may name the socket; the shim picks its own.
                _ => {}
            }
        }
        parsed.action = if version {
            Action::Version
        } else if info {
            Action::Info
        } else {
            match action.as_deref() {
                None => Action::Serve,
                Some("start") => Action::Start,
                Some("delete") => Action::Delete,
                Some(other) => return Err(ArgsError::UnknownAction(other.to_string())),
            }
        };
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), ArgsError> {
        let action = match self.action {
            Action::Start => "start",
            Action::Delete => "delete",
            Action::Serve => "serve",
            Action::Version | Action::Info => return Ok(()),
        };
        for (flag, value) in [("namespace", &self.namespace), ("id", &self.id)] {
            if value.is_empty() {
                return Err(ArgsError::Required { action, flag });
            }
        }
        if self.action == Action::Start && self.address.is_empty() {
            return Err(ArgsError::Required {
                action,
                flag: "address",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_start_line() {
        let a = Args::parse([
            "-namespace",
            "default",
            "-address",
            "/run/containerd/containerd.sock",
            "-publish-binary",
            "/usr/bin/containerd",
            "-id",
            "c1",
            "-debug",
            "start",
        ])
        .unwrap();
        assert_eq!(a.action, Action::Start);
        assert_eq!(a.namespace, "default");
        assert_eq!(a.address, "/run/containerd/containerd.sock");
        assert_eq!(a.publish_binary, "/usr/bin/containerd");
        assert_eq!(a.id, "c1");
        assert!(a.debug);
    }

    #[test]
    fn delete_with_bundle_and_equals_form() {
        let a = Args::parse(["--namespace=k8s.io", "-id=x", "-bundle", "/b", "delete"]).unwrap();
        assert_eq!(a.action, Action::Delete);
        assert_eq!(a.bundle, Some(PathBuf::from("/b")));
        assert_eq!(a.namespace, "k8s.io");
    }

    #[test]
    fn version_needs_nothing_else() {
        assert_eq!(Args::parse(["-v"]).unwrap().action, Action::Version);
        assert_eq!(Args::parse(["-info"]).unwrap().action, Action::Info);
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(
            Args::parse(["-bogus", "x"]),
            Err(ArgsError::UnknownFlag("bogus".into()))
        );
        assert_eq!(
            Args::parse(["-id"]),
            Err(ArgsError::MissingValue("id".into()))
        );
        assert_eq!(
            Args::parse(["-namespace", "n", "-id", "i", "frob"]),
            Err(ArgsError::UnknownAction("frob".into()))
        );
        assert_eq!(
            Args::parse(["-namespace", "n", "-id", "i", "start"]),
            Err(ArgsError::Required {
                action: "start",
                flag: "address"
            })
        );
    }
}
