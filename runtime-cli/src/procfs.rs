//! Facts about processes read from `/proc`.

use std::fs;

/// Start time of `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), and whether it is a zombie.
pub fn stat(pid: i32) -> Option<(u64, bool)> {
    let data = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may hold spaces and parentheses: parse after the last ')'
    let rest = &data[data.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, *state == "Z" || *state == "X"))
}

/// Whether `pid` is still the live process that started at `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    matches!(stat(pid), Some((start, zombie)) if start == start_time && !zombie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let (start, zombie) = stat(pid).unwrap();
        assert!(!zombie);
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        assert!(!is_alive(0, 0));
    }
}
