//! Dependency order with as much at once as the order allows: every
//! service's step starts as soon as the steps of the services it depends on
//! (or, in reverse, the services depending on it) have finished, so
//! independent services are created, started or stopped concurrently.

use std::collections::HashMap;
use std::future::Future;

use futures_util::future::join_all;
use tokio::sync::watch;

/// A step that did not run because a step it waits for failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} was not handled: a service it waits for failed")]
pub struct Skipped(pub String);

/// A step's outcome as those waiting for it see it: `None` until it has
/// finished, then whether it succeeded.
type Finished = (watch::Sender<Option<bool>>, watch::Receiver<Option<bool>>);

/// Which way the dependency edges are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// dependencies first (create, start)
    Forward,
    /// dependents first (stop, remove)
    Reverse,
}

/// Runs `step` for every service of `deps` (service → the services it
/// depends on) in dependency order; returns each service's outcome in the
/// order of `deps`.  Edges to services outside `deps` are ignored.  The
/// model guarantees there is no cycle.
pub async fn run<'a, T, E, F, Fut>(
    deps: &'a [(String, Vec<String>)],
    direction: Direction,
    step: F,
) -> Vec<(String, Result<T, E>)>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: From<Skipped>,
{
    let known: HashMap<&str, usize> = deps
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (s.as_str(), i))
        .collect();
    // what each service waits for
    let mut waits: Vec<Vec<usize>> = vec![Vec::new(); deps.len()];
    for (i, (_, ds)) in deps.iter().enumerate() {
        for d in ds {
            let Some(&j) = known.get(d.as_str()) else {
                continue;
            };
            match direction {
                Direction::Forward => waits[i].push(j),
                Direction::Reverse => waits[j].push(i),
            }
        }
    }
    // None: not done yet; Some(ok)
    let done: Vec<Finished> = deps.iter().map(|_| watch::channel(None)).collect();
    let tasks = deps.iter().enumerate().map(|(i, (service, _))| {
        let waits = &waits[i];
        let done = &done;
        let step = &step;
        async move {
            let mut ok = true;
            for &j in waits {
                let mut rx = done[j].1.clone();
                let finished = rx.wait_for(Option::is_some).await.map(|v| *v);
                ok &= matches!(finished, Ok(Some(true)));
            }
            let outcome = if ok {
                step(service).await
            } else {
                Err(E::from(Skipped(service.clone())))
            };
            let _ = done[i].0.send(Some(outcome.is_ok()));
            (service.clone(), outcome)
        }
    });
    join_all(tasks).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn graph() -> Vec<(String, Vec<String>)> {
        vec![
            ("client".into(), vec!["web".into()]),
            ("web".into(), vec!["db".into(), "elsewhere".into()]),
            ("db".into(), vec![]),
        ]
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn dependencies_first_or_last() {
        let g = graph();
        for (dir, want) in [
            (Direction::Forward, ["db", "web", "client"]),
            (Direction::Reverse, ["client", "web", "db"]),
        ] {
            let seen = RefCell::new(Vec::new());
            let out = block_on(run(&g, dir, |s| {
                seen.borrow_mut().push(s.to_string());
                async { Ok::<_, Skipped>(()) }
            }));
            assert_eq!(*seen.borrow(), want);
            assert_eq!(out.len(), 3);
            assert_eq!(out[0].0, "client");
        }
    }

    #[test]
    fn a_failure_skips_what_waits_for_it() {
        let g = graph();
        let out = block_on(run(&g, Direction::Forward, |s| async move {
            if s == "db" {
                Err(Skipped("boom".into()))
            } else {
                Ok(())
            }
        }));
        let by: HashMap<_, _> = out.into_iter().collect();
        assert_eq!(by["web"], Err(Skipped("web".into())));
        assert_eq!(by["client"], Err(Skipped("client".into())));
    }
}
