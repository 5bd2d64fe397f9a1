//! Convergence: what `up` does to one service's containers so that they
//! match the model.  Pure: the observed containers and the wanted state in,
//! a list of actions out.  A container made from the same configuration
//! (same config hash) and the same image is kept, started if it is not
//! running; one made from another configuration or an older image (a
//! rebuilt or pulled tag) is recreated under its number; replicas beyond the
//! wanted count go (highest numbers first), missing ones are created with
//! the lowest free numbers.

/// A container of the service as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub name: String,
    pub number: u32,
    pub config_hash: String,
    /// the id of the image it was made from
    pub image_id: String,
    /// running, paused or restarting: nothing to start
    pub running: bool,
}

/// What the service should look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub config_hash: &'a str,
    /// the id of the service's image now; `None`: unknown (not stored yet)
    pub image_id: Option<&'a str>,
    pub replicas: u32,
    /// `--force-recreate`: replace even unchanged containers
    pub force_recreate: bool,
    /// `--no-recreate`: keep changed containers as they are
    pub no_recreate: bool,
}

/// One step of convergence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// up to date and running
    Keep(Observed),
    /// up to date, not running
    Start(Observed),
    /// made from another configuration: remove it, create anew
    Recreate(Observed),
    /// a missing replica
    Create { number: u32 },
    /// a replica beyond the wanted count
    Remove(Observed),
}

/// The actions that bring `observed` to `wanted`: removals first, then the
/// kept and recreated containers by number, then the new ones.
pub fn converge(wanted: Wanted, mut observed: Vec<Observed>) -> Vec<Action> {
    observed.sort_by_key(|o| o.number);
    let keep = (wanted.replicas as usize).min(observed.len());
    let excess = observed.split_off(keep);
    let mut actions: Vec<Action> = excess.into_iter().rev().map(Action::Remove).collect();
    let taken: Vec<u32> = observed.iter().map(|o| o.number).collect();
    for o in observed {
        let changed = o.config_hash != wanted.config_hash
            || wanted.image_id.is_some_and(|id| id != o.image_id);
        let action = if wanted.force_recreate || (changed && !wanted.no_recreate) {
            Action::Recreate(o)
        } else if o.running {
            Action::Keep(o)
        } else {
            Action::Start(o)
        };
        actions.push(action);
    }
    let missing = wanted.replicas as usize - keep;
    actions.extend(
        (1..)
            .filter(|n| !taken.contains(n))
            .take(missing)
            .map(|number| Action::Create { number }),
    );
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(number: u32, hash: &str, running: bool) -> Observed {
        Observed {
            id: format!("id{number}"),
            name: format!("p-s-{number}"),
            number,
            config_hash: hash.into(),
            image_id: "sha256:1".into(),
            running,
        }
    }

    fn wanted(hash: &str, replicas: u32) -> Wanted<'_> {
        Wanted {
            config_hash: hash,
            image_id: Some("sha256:1"),
            replicas,
            force_recreate: false,
            no_recreate: false,
        }
    }

    #[test]
    fn unchanged_running_containers_are_kept() {
        let a = converge(wanted("h", 1), vec![obs(1, "h", true)]);
        assert_eq!(a, [Action::Keep(obs(1, "h", true))]);
        let a = converge(wanted("h", 1), vec![obs(1, "h", false)]);
        assert_eq!(a, [Action::Start(obs(1, "h", false))]);
    }

    #[test]
    fn changed_or_forced_containers_are_recreated() {
        let a = converge(wanted("new", 1), vec![obs(1, "old", true)]);
        assert_eq!(a, [Action::Recreate(obs(1, "old", true))]);
        let mut w = wanted("h", 1);
        w.force_recreate = true;
        assert_eq!(
            converge(w, vec![obs(1, "h", true)]),
            [Action::Recreate(obs(1, "h", true))]
        );
        let mut w = wanted("h", 1);
        w.image_id = Some("sha256:2");
        assert_eq!(
            converge(w, vec![obs(1, "h", true)]),
            [Action::Recreate(obs(1, "h", true))],
            "a rebuilt image"
        );
        w.image_id = None;
        assert_eq!(
            converge(w, vec![obs(1, "h", true)]),
            [Action::Keep(obs(1, "h", true))]
        );
        let mut w = wanted("new", 1);
        w.no_recreate = true;
        assert_eq!(
            converge(w, vec![obs(1, "old", true)]),
            [Action::Keep(obs(1, "old", true))]
        );
    }

    #[test]
    fn scaling_fills_gaps_and_removes_the_highest() {
        assert_eq!(
            converge(wanted("h", 2), vec![]),
            [Action::Create { number: 1 }, Action::Create { number: 2 }]
        );
        let a = converge(wanted("h", 3), vec![obs(2, "h", true)]);
        assert_eq!(
            a,
            [
                Action::Keep(obs(2, "h", true)),
                Action::Create { number: 1 },
                Action::Create { number: 3 }
            ]
        );
        let a = converge(
            wanted("h", 1),
            vec![obs(3, "h", true), obs(1, "h", true), obs(2, "h", true)],
        );
        assert_eq!(
            a,
            [
                Action::Remove(obs(3, "h", true)),
                Action::Remove(obs(2, "h", true)),
                Action::Keep(obs(1, "h", true))
            ]
        );
        assert_eq!(
            converge(wanted("h", 0), vec![obs(1, "h", true)]),
            [Action::Remove(obs(1, "h", true))]
        );
    }
}
