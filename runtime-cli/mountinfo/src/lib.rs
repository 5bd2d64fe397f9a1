//! `/proc/<pid>/mountinfo` (proc(5)) split into its fields, the one way
//! every tier reads it: the runtime (cgroup hierarchies, the pivot's parent
//! mount), the manager (cgroups left by a killed create) and the tests
//! (leftover mounts). Also which mounts are still reachable by path, for a
//! host where a later mount covers an earlier one. No I/O: callers read the
//! file (once, where that matters) and hand the text in.

use std::borrow::Cow;

/// One mountinfo line:
/// `id parent maj:min root mountpoint options [optional...] - fstype source superoptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo<'a> {
    /// The whole line as read.
    pub line: &'a str,
    pub id: &'a str,
    pub parent: &'a str,
    /// The directory of the filesystem that forms this mount's root, unescaped.
    pub root: Cow<'a, str>,
    /// Where it is mounted, unescaped.
    pub mount_point: Cow<'a, str>,
    /// Per-mount options (`rw,nosuid`).
    pub options: &'a str,
    /// The optional fields (`shared:5 master:1`), space-separated, maybe empty.
    pub optional: &'a str,
    pub fstype: &'a str,
    pub source: &'a str,
    /// Per-superblock options (`rw,cpu` for a cgroup v1 hierarchy).
    pub super_options: &'a str,
}

impl MountInfo<'_> {
    /// Whether the mount is in a shared peer group (`shared:N`).
    pub fn is_shared(&self) -> bool {
        self.optional.split(' ').any(|f| f.starts_with("shared:"))
    }
}

/// Splits one line; `None` when it is not a mountinfo line.
pub fn parse_line(line: &str) -> Option<MountInfo<'_>> {
    let (head, tail) = line.split_once(" - ")?;
    let mut f = head.splitn(7, ' ');
    let id = f.next()?;
    let parent = f.next()?;
    let _major_minor = f.next()?;
    let root = f.next()?;
    let mount_point = f.next()?;
    let options = f.next()?;
    let optional = f.next().unwrap_or("");
    let mut t = tail.splitn(3, ' ');
    let fstype = t.next()?;
    let source = t.next()?;
    let super_options = t.next()?;
    Some(MountInfo {
        line,
        id,
        parent,
        root: unescape(root),
        mount_point: unescape(mount_point),
        options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// Every line of `mountinfo` that parses, in order.
pub fn parse(mountinfo: &str) -> impl Iterator<Item = MountInfo<'_>> {
    mountinfo.lines().filter_map(parse_line)
}

/// The filesystem type of a line (the field after ` - `), without splitting
/// the rest: hosts with thousands of mounts are filtered by it cheaply.
pub fn fstype(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once(" - ")?;
    rest.split(' ').next()
}

/// Undoes mountinfo's octal escapes (`\040` for space, `\134` for `\`);
/// borrows when there is nothing to undo.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The lines whose mounts are reachable by path: a mount covered by a later
/// mount on the same or an enclosing path (that is not one of its own
/// parents) still shows in mountinfo, but its mountpoint now leads elsewhere
/// — e.g. a tmpfs mounted over /sys/fs/cgroup hides the hybrid host's
/// cgroup2 mount below it.
pub fn visible_lines(mountinfo: &str) -> Vec<&str> {
    visible_lines_where(mountinfo, |_| true)
}

/// [`visible_lines`] of the lines `wanted` keeps: only those few are checked
/// against the others.
pub fn visible_lines_where(mountinfo: &str, wanted: impl Fn(&str) -> bool) -> Vec<&str> {
    struct Entry<'a> {
        line: &'a str,
        id: &'a str,
        parent: &'a str,
        mountpoint: Cow<'a, str>,
    }
    let entries: Vec<Entry<'_>> = mountinfo
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut f = line.split(' ');
            let id = f.next().unwrap_or("");
            let parent = f.next().unwrap_or("");
            let raw = f.nth(2).unwrap_or("");
            Entry {
                line,
                id,
                parent,
                mountpoint: unescape(raw),
            }
        })
        .collect();
    let parents: std::collections::HashMap<&str, &str> =
        entries.iter().map(|e| (e.id, e.parent)).collect();
    let is_ancestor = |candidate: &str, of: &Entry<'_>| {
        let mut cur = of.parent;
        for _ in 0..entries.len() {
            if cur == candidate {
                return true;
            }
            match parents.get(cur) {
                Some(p) if *p != cur => cur = p,
                _ => return false,
            }
        }
        false
    };
    entries
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            wanted(e.line)
                && !entries[i + 1..].iter().any(|later| {
                    path_within(&e.mountpoint, &later.mountpoint) && !is_ancestor(later.id, e)
                })
        })
        .map(|(_, e)| e.line)
        .collect()
}

/// Whether mountpoint `path` is `dir` or below it (both absolute and
/// normalised, as mountinfo gives them).
pub fn path_within(path: &str, dir: &str) -> bool {
    match path.strip_prefix(dir) {
        Some("") => true,
        Some(rest) => dir.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_fields() {
        let m = parse_line(
            "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:5 master:1 - cgroup2 cgroup2 rw,nsdelegate",
        )
        .unwrap();
        assert_eq!((m.id, m.parent), ("41", "31"));
        assert_eq!(m.root, "/");
        assert_eq!(m.mount_point, "/sys/fs/cgroup/unified");
        assert_eq!(m.options, "rw,nosuid");
        assert_eq!(m.optional, "shared:5 master:1");
        assert!(m.is_shared());
        assert_eq!((m.fstype, m.source), ("cgroup2", "cgroup2"));
        assert_eq!(m.super_options, "rw,nsdelegate");
        let m = parse_line("50 32 0:29 /a\\040b /x\\040y rw - cgroup cgroup rw,cpu").unwrap();
        assert_eq!(m.root, "/a b");
        assert_eq!(m.mount_point, "/x y");
        assert_eq!(m.optional, "");
        assert!(!m.is_shared());
        assert!(parse_line("nonsense").is_none());
        assert!(parse_line("1 2 0:3 / /x rw - tmpfs").is_none());
        assert_eq!(fstype("1 2 0:3 / /x rw - tmpfs tmpfs rw"), Some("tmpfs"));
        assert_eq!(parse("1 2 0:3 / /x rw - tmpfs t rw\nbad\n").count(), 1);
    }

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
        assert_eq!(unescape(r"/big\777"), r"/big\777");
    }

    #[test]
    fn paths_within_directories() {
        assert!(path_within("/sys/fs/cgroup/cpu", "/sys/fs/cgroup"));
        assert!(path_within("/sys/fs/cgroup", "/sys/fs/cgroup"));
        assert!(path_within("/sys", "/"));
        assert!(!path_within("/sys/fs/cgroupx", "/sys/fs/cgroup"));
        assert!(!path_within("/sys", "/sys/fs"));
    }

    #[test]
    fn covered_mounts_are_dropped_nested_ones_kept() {
        let info = "\
20 1 8:1 / / rw - ext4 /dev/sda1 rw
21 20 0:40 / /mnt/data rw - tmpfs tmpfs rw
22 21 0:41 / /mnt/data/inner rw - tmpfs tmpfs rw
23 20 0:42 / /mnt rw - tmpfs cover rw
24 23 0:43 / /mnt/data rw - tmpfs again rw
";
        let v = visible_lines(info);
        let ids: Vec<&str> = v.iter().map(|l| &l[..2]).collect();
        // `/` stays (the cover is its child); 21 and 22 are under the cover
        assert_eq!(ids, ["20", "23", "24"], "{v:?}");
        let nested = info.lines().take(3).collect::<Vec<_>>().join("\n");
        assert_eq!(visible_lines(&nested).len(), 3);
    }
}
