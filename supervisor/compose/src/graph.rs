//! Service order by `depends_on` (and `network_mode: service:NAME`):
//! dependencies first, ties by name so the order is stable. A cycle is an
//! error naming it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ComposeError;
use crate::model::Project;

/// The services a service needs started first.
pub fn dependencies(project: &Project, service: &str) -> BTreeSet<String> {
    let Some(s) = project.services.get(service) else {
        return BTreeSet::new();
    };
    let mut deps: BTreeSet<String> = s.depends_on.keys().cloned().collect();
    if let Some(other) = s
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
    {
        deps.insert(other.to_string());
    }
    deps
}

/// Active services in start order: each after everything it depends on.
pub fn start_order(project: &Project) -> Result<Vec<String>, ComposeError> {
    let deps: BTreeMap<String, BTreeSet<String>> = project
        .services
        .keys()
        .map(|k| (k.clone(), dependencies(project, k)))
        .collect();
    for (svc, ds) in &deps {
        if let Some(d) = ds.iter().find(|d| !deps.contains_key(*d)) {
            return Err(ComposeError::UnknownDependency {
                service: svc.clone(),
                dependency: d.clone(),
            });
        }
    }
    let mut order = Vec::with_capacity(deps.len());
    let mut state: BTreeMap<&str, Mark> = BTreeMap::new();
    for svc in deps.keys() {
        visit(svc, &deps, &mut state, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// Active services in stop order: dependents before their dependencies.
pub fn stop_order(project: &Project) -> Result<Vec<String>, ComposeError> {
    let mut o = start_order(project)?;
    o.reverse();
    Ok(o)
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Visiting,
    Done,
}

fn visit<'a>(
    svc: &'a str,
    deps: &'a BTreeMap<String, BTreeSet<String>>,
    state: &mut BTreeMap<&'a str, Mark>,
    stack: &mut Vec<&'a str>,
    order: &mut Vec<String>,
) -> Result<(), ComposeError> {
    match state.get(svc) {
        Some(Mark::Done) => return Ok(()),
        Some(Mark::Visiting) => {
            let start = stack.iter().position(|s| *s == svc).unwrap_or(0);
            let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(svc.to_string());
            return Err(ComposeError::Cycle(cycle));
        }
        None => {}
    }
    state.insert(svc, Mark::Visiting);
    stack.push(svc);
    if let Some(ds) = deps.get(svc) {
        for d in ds {
            visit(d, deps, state, stack, order)?;
        }
    }
    stack.pop();
    state.insert(svc, Mark::Done);
    order.push(svc.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Condition, Dependency, Service};

    fn project(edges: &[(&str, &[&str])]) -> Project {
        let services = edges
            .iter()
            .map(|(name, deps)| {
                let s = Service {
                    name: name.to_string(),
                    depends_on: deps
                        .iter()
                        .map(|d| {
                            (
                                d.to_string(),
                                Dependency {
                                    condition: Condition::ServiceStarted,
                                    restart: false,
                                    required: true,
                                },
                            )
                        })
                        .collect(),
                    ..Default::default()
                };
                (name.to_string(), s)
            })
            .collect();
        Project {
            name: "p".into(),
            working_dir: "/".into(),
            files: vec![],
            services,
            disabled_services: Default::default(),
            networks: Default::default(),
            volumes: Default::default(),
            environment: Default::default(),
        }
    }

    #[test]
    fn dependencies_come_first() {
        let p = project(&[
            ("web", &["api", "cache"]),
            ("api", &["db"]),
            ("db", &[]),
            ("cache", &[]),
            ("client", &["web"]),
        ]);
        let o = start_order(&p).unwrap();
        let pos = |s: &str| o.iter().position(|x| x == s).unwrap();
        assert!(pos("db") < pos("api"));
        assert!(pos("api") < pos("web"));
        assert!(pos("cache") < pos("web"));
        assert!(pos("web") < pos("client"));
        assert_eq!(o, ["db", "api", "cache", "web", "client"]);
        assert_eq!(stop_order(&p).unwrap()[0], "client");
    }

    #[test]
    fn cycles_are_named() {
        let p = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        match start_order(&p) {
            Err(ComposeError::Cycle(c)) => assert_eq!(c, ["a", "b", "c", "a"]),
            other => panic!("{other:?}"),
        }
        let p = project(&[("a", &["a"])]);
        assert!(start_order(&p).unwrap_err().to_string().contains("a -> a"));
    }

    #[test]
    fn unknown_dependencies() {
        let p = project(&[("a", &["ghost"])]);
        assert!(matches!(
            start_order(&p),
            Err(ComposeError::UnknownDependency { .. })
        ));
    }
}
