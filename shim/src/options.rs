//! The runtime options containerd passes with a task: containerd's runc
//! shim options (`containerd.runc.v1.Options`), of which the shim uses
//! `BinaryName` (the runtime to run) and `Root` (its state root).

use std::path::{Path, PathBuf};

use berth_proto::containerd::protobuf::well_known_types::any::Any;
use berth_proto::containerd::protobuf::Message;
use berth_proto::runc_options::Options;

/// The runtime binary when no `BinaryName` is given.
pub const DEFAULT_RUNTIME: &str = "berth-runtime";
/// The runtime root when no `Root` is given; the namespace is appended.
pub const DEFAULT_ROOT: &str = "/run/containerd/berth";

/// Options that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("runtime options {type_url}: {source}")]
pub struct OptionsError {
    type_url: String,
    source: berth_proto::containerd::protobuf::Error,
}

/// What the shim takes from the options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// `BinaryName`: runtime binary (a name on PATH or a path).
    pub binary_name: String,
    /// `Root`: the runtime's state root.
    pub root: String,
}

impl RuntimeOptions {
    /// Decodes `options`. Options of another type (the CRI plugin's
    /// `runtimeoptions.v1.Options` for non-runc runtimes) carry nothing the
    /// shim uses and give the defaults.
    pub fn decode(options: Option<&Any>) -> Result<RuntimeOptions, OptionsError> {
        let Some(any) = options.filter(|a| a.type_url.ends_with("containerd.runc.v1.Options"))
        else {
            return Ok(RuntimeOptions::default());
        };
        let o = Options::parse_from_bytes(&any.value).map_err(|source| OptionsError {
            type_url: any.type_url.clone(),
            source,
        })?;
        Ok(RuntimeOptions {
            binary_name: o.binary_name,
            root: o.root,
        })
    }

    /// The runtime binary: `BinaryName`, else `berth-runtime` beside the
    /// shim's own executable, else `berth-runtime` on PATH.
    pub fn binary(&self, shim_exe: Option<&Path>) -> PathBuf {
        if !self.binary_name.is_empty() {
            return PathBuf::from(&self.binary_name);
        }
        shim_exe
            .and_then(Path::parent)
            .map(|d| d.join(DEFAULT_RUNTIME))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME))
    }

    /// The runtime's `--root` for `namespace`: `<Root>/<namespace>`.
    pub fn root(&self, namespace: &str) -> PathBuf {
        let base = if self.root.is_empty() {
            DEFAULT_ROOT
        } else {
            self.root.as_str()
        };
        Path::new(base).join(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_options_are_read_and_others_ignored() {
        let mut o = Options::new();
        o.binary_name = "/usr/sbin/runc".into();
        o.root = "/run/x".into();
        let mut any = Any::new();
        any.type_url = "containerd.runc.v1.Options".into();
        any.value = o.write_to_bytes().unwrap();
        let got = RuntimeOptions::decode(Some(&any)).unwrap();
        assert_eq!(got.binary(None), PathBuf::from("/usr/sbin/runc"));
        assert_eq!(got.root("k8s.io"), PathBuf::from("/run/x/k8s.io"));

        any.type_url = "type.googleapis.com/runtimeoptions.v1.Options".into();
        assert_eq!(
            RuntimeOptions::decode(Some(&any)).unwrap(),
            RuntimeOptions::default()
        );
        assert_eq!(
            RuntimeOptions::default().root("default"),
            PathBuf::from("/run/containerd/berth/default")
        );

        any.type_url = "containerd.runc.v1.Options".into();
        any.value = vec![0xff, 0xff, 0xff];
        let err = RuntimeOptions::decode(Some(&any)).unwrap_err().to_string();
        assert!(err.contains("containerd.runc.v1.Options"), "{err}");
    }
}
