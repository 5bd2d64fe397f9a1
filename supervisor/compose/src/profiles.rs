//! Profiles: a service with `profiles:` is active only when one of them is
//! enabled (`--profile`, `COMPOSE_PROFILES`, `*` for all) or when it is
//! named on the command line; the dependencies of active services are
//! pulled in whatever their profiles.

use std::collections::BTreeMap;

use crate::error::ComposeError;
use crate::model::Service;

type Services = BTreeMap<String, Service>;

/// Splits the services into active and disabled ones. A missing dependency
/// is an error when required, a warning (and dropped) when not.
pub fn split(
    mut all: Services,
    profiles: &[String],
    named: &[String],
    warnings: &mut Vec<String>,
) -> Result<(Services, Services), ComposeError> {
    for n in named {
        if !all.contains_key(n) {
            return Err(ComposeError::NoSuchService(n.clone()));
        }
    }
    let enabled = |s: &Service| {
        s.profiles.is_empty()
            || profiles.iter().any(|p| p == "*")
            || s.profiles.iter().any(|p| profiles.contains(p))
    };
    let mut queue: Vec<String> = all
        .iter()
        .filter(|(k, s)| enabled(s) || named.contains(k))
        .map(|(k, _)| k.clone())
        .collect();
    let mut active = Services::new();
    while let Some(name) = queue.pop() {
        if active.contains_key(&name) {
            continue;
        }
        let Some(mut s) = all.remove(&name) else {
            continue;
        };
        let mut missing = Vec::new();
        for (dep, d) in &s.depends_on {
            if dep == &name || all.contains_key(dep) || active.contains_key(dep) {
                queue.push(dep.clone());
            } else if d.required {
                return Err(ComposeError::UnknownDependency {
                    service: name.clone(),
                    dependency: dep.clone(),
                });
            } else {
                warnings.push(format!(
                    "service {name:?} depends on undefined service {dep:?}, which is not required: ignored"
                ));
                missing.push(dep.clone());
            }
        }
        for m in missing {
            s.depends_on.remove(&m);
        }
        // `network_mode: service:NAME` needs that service too
        if let Some(other) = s
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("service:"))
        {
            if !all.contains_key(other) && !active.contains_key(other) && other != name {
                return Err(ComposeError::UnknownDependency {
                    service: name.clone(),
                    dependency: other.to_string(),
                });
            }
            queue.push(other.to_string());
        }
        active.insert(name, s);
    }
    Ok((active, all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Condition, Dependency};

    fn svc(profiles: &[&str], deps: &[(&str, bool)]) -> Service {
        Service {
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            depends_on: deps
                .iter()
                .map(|(d, required)| {
                    (
                        d.to_string(),
                        Dependency {
                            condition: Condition::ServiceStarted,
                            restart: false,
                            required: *required,
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    fn all() -> Services {
        [
            ("web", svc(&[], &[("db", true)])),
            ("db", svc(&["backend"], &[])),
            ("debug", svc(&["debug"], &[("tools", true)])),
            ("tools", svc(&["tools"], &[])),
            ("docs", svc(&["docs", "extra"], &[])),
        ]
        .into_iter()
        .map(|(k, s)| (k.to_string(), s))
        .collect()
    }

    fn names(s: &Services) -> Vec<&str> {
        s.keys().map(String::as_str).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_profile_enables_services_without_profiles_and_their_dependencies() {
        let (a, d) = split(all(), &[], &[], &mut Vec::new()).unwrap();
        assert_eq!(names(&a), ["db", "web"]);
        assert_eq!(names(&d), ["debug", "docs", "tools"]);
    }

    #[test]
    fn enabled_profiles_and_star() {
        let (a, _) = split(all(), &strings(&["extra"]), &[], &mut Vec::new()).unwrap();
        assert_eq!(names(&a), ["db", "docs", "web"]);
        let (a, d) = split(all(), &strings(&["*"]), &[], &mut Vec::new()).unwrap();
        assert_eq!(a.len(), 5);
        assert!(d.is_empty());
    }

    #[test]
    fn named_services_are_enabled_with_their_dependencies() {
        let (a, _) = split(all(), &[], &strings(&["debug"]), &mut Vec::new()).unwrap();
        assert_eq!(names(&a), ["db", "debug", "tools", "web"]);
        assert!(matches!(
            split(all(), &[], &strings(&["nope"]), &mut Vec::new()),
            Err(ComposeError::NoSuchService(_))
        ));
    }

    #[test]
    fn missing_dependencies() {
        let mut s = all();
        s.insert("api".into(), svc(&[], &[("ghost", true)]));
        assert!(matches!(
            split(s, &[], &[], &mut Vec::new()),
            Err(ComposeError::UnknownDependency { .. })
        ));
        let mut s = all();
        s.insert("api".into(), svc(&[], &[("ghost", false)]));
        let mut w = Vec::new();
        let (a, _) = split(s, &[], &[], &mut w).unwrap();
        assert!(a["api"].depends_on.is_empty());
        assert_eq!(w.len(), 1);
    }
}
