//! A registry's CA certificates as docker finds them: `ca.crt` (and any
//! `*.crt`) in `/etc/docker/certs.d/<host[:port]>/`, and in berth's own
//! `certs.d/<host[:port]>/` under the manager's state dir. A registry with
//! a CA there is spoken to over TLS even on loopback.

use std::path::{Path, PathBuf};

/// Where docker keeps per-registry certificates.
const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";

/// The certificate dirs for `host` (docker's, then berth's own).
pub fn cert_dirs(state: &Path, host: &str) -> Vec<PathBuf> {
    vec![
        Path::new(DOCKER_CERTS_D).join(host),
        state.join("certs.d").join(host),
    ]
}

/// Every `*.crt` in the registry's certificate dirs, PEM as stored.
pub fn ca_pems(state: &Path, host: &str) -> Vec<Vec<u8>> {
    let mut pems = Vec::new();
    for dir in cert_dirs(state, host) {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        pems.extend(files.iter().filter_map(|f| std::fs::read(f).ok()));
    }
    pems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_come_from_the_host_s_dir() {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("certs.d/127.0.0.1:5443");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), "PEM").unwrap();
        std::fs::write(dir.join("client.key"), "KEY").unwrap();
        assert_eq!(
            ca_pems(state.path(), "127.0.0.1:5443"),
            vec![b"PEM".to_vec()]
        );
        assert!(ca_pems(state.path(), "other:1").is_empty());
    }
}
