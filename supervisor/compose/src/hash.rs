//! The config hash of a service, stored in its containers'
//! `com.docker.compose.config-hash` label: sha256 of the canonical JSON of
//! its resolved configuration, leaving out what does not change what each
//! container is: the number of them (`scale`, `deploy.replicas`), how the
//! image is obtained (`build`, `pull_policy`: a rebuilt image shows as a new
//! image id instead), and the ordering and selection keys (`depends_on`,
//! `profiles`). So scaling or reordering never recreates.

use sha2::{Digest, Sha256};

use crate::model::Service;

/// Hex sha256 of the service's canonical JSON (keys sorted at every level).
pub fn config_hash(service: &Service) -> String {
    let mut v = serde_json::to_value(service).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        for key in ["build", "pull_policy", "depends_on", "profiles"] {
            obj.remove(key);
        }
        let emptied = match obj.get_mut("deploy").and_then(|d| d.as_object_mut()) {
            Some(deploy) => {
                deploy.remove("replicas");
                deploy.is_empty()
            }
            None => false,
        };
        if emptied {
            obj.remove("deploy");
        }
    }
    let mut text = String::new();
    canonical(&v, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// JSON with object keys sorted, whatever map type serde_json was built
/// with.
fn canonical(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Deploy;

    #[test]
    fn stable_and_sensitive() {
        let mut s = Service {
            name: "web".into(),
            image: Some("nginx".into()),
            replicas: 1,
            ..Default::default()
        };
        let h = config_hash(&s);
        assert_eq!(h.len(), 64);
        assert_eq!(h, config_hash(&s.clone()));
        s.replicas = 5;
        s.deploy = Some(Deploy {
            replicas: Some(5),
            resources: None,
        });
        let scaled = config_hash(&s);
        s.deploy = Some(Deploy {
            replicas: Some(2),
            resources: None,
        });
        assert_eq!(scaled, config_hash(&s), "replicas do not count");
        assert_eq!(scaled, h, "nor does a deploy holding only replicas");
        s.profiles = vec!["p".into()];
        s.pull_policy = Some("always".into());
        assert_eq!(scaled, config_hash(&s), "nor do profiles or pull_policy");
        s.image = Some("nginx:2".into());
        s.deploy = None;
        assert_ne!(scaled, config_hash(&s));
        s.environment.insert("A".into(), Some("1".into()));
        let with_env = config_hash(&s);
        s.environment.insert("A".into(), Some("2".into()));
        assert_ne!(with_env, config_hash(&s));
    }
}
