//! Parsing of docker's value syntaxes: `-v`, `--tmpfs`, `-m`, `--cpus`, `-e`,
//! `-u`, `-s`.  Each parser names the bad value in its error.

use std::path::Path;

/// A flag value that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlagError {
    #[error("invalid volume specification: '{spec}': {why}")]
    Volume { spec: String, why: String },
    #[error("invalid tmpfs specification: '{spec}': {why}")]
    Tmpfs { spec: String, why: String },
    #[error("invalid size: '{0}'")]
    Size(String),
    #[error("invalid argument \"{0}\" for \"--cpus\" flag: must be a positive number")]
    Cpus(String),
    #[error("invalid environment variable: '{0}'")]
    Env(String),
    #[error("invalid user: '{0}': expected uid[:gid] (numeric) or root")]
    User(String),
    #[error("invalid signal: {0}")]
    Signal(String),
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    Workdir(String),
    #[error("invalid restart policy '{0}': expected no, always, unless-stopped or on-failure[:N]")]
    Restart(String),
}

/// A `-v host:ctr[:opts]` bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// bind propagation, e.g. "rprivate"
    pub propagation: String,
}

/// Parses `-v`; the host path must be absolute and exist (berth has no named
/// volumes and, unlike docker, creates nothing on the host for a typo).
pub fn parse_volume(spec: &str) -> Result<Bind, FlagError> {
    let bad = |why: &str| FlagError::Volume {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        [_] => return Err(bad("expected host-path:container-path[:options]")),
        _ => return Err(bad("too many colons")),
    };
    if src.is_empty() || dst.is_empty() {
        return Err(bad("empty path"));
    }
    if !src.starts_with('/') {
        return Err(bad(
            "host path must be absolute (named volumes are not supported)",
        ));
    }
    if !dst.starts_with('/') {
        return Err(bad("container path must be absolute"));
    }
    if dst == "/" {
        return Err(bad("container path cannot be '/'"));
    }
    let mut bind = Bind {
        source: src.to_string(),
        destination: dst.to_string(),
        read_only: false,
        propagation: "rprivate".into(),
    };
    let mut mode_seen = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" if mode_seen => return Err(bad("ro and rw given twice")),
            "ro" | "rw" => {
                mode_seen = true;
                bind.read_only = o == "ro";
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                bind.propagation = o.to_string()
            }
            // SELinux relabel and copy-up hints have no meaning here
            "z" | "Z" | "nocopy" => {}
            other => return Err(bad(&format!("invalid mode: {other}"))),
        }
    }
    if !Path::new(src).exists() {
        return Err(bad(&format!("bind source path does not exist: {src}")));
    }
    Ok(bind)
}

/// A `--tmpfs /path[:opts]` mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub destination: String,
    pub options: Vec<String>,
}

/// Parses `--tmpfs`; docker's defaults are noexec,nosuid,nodev.
pub fn parse_tmpfs(spec: &str) -> Result<Tmpfs, FlagError> {
    let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let bad = |why: &str| FlagError::Tmpfs {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    if !dst.starts_with('/') || dst == "/" {
        return Err(bad("path must be absolute and not '/'"));
    }
    let mut options: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        if o.contains(char::is_whitespace) {
            return Err(bad(&format!("invalid option: {o}")));
        }
        let opposite = match o {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        if let Some(opp) = opposite {
            options.retain(|x| x != opp);
        }
        options.push(o.to_string());
    }
    Ok(Tmpfs {
        destination: dst.to_string(),
        options,
    })
}

/// Parses a docker size (`-m 512m`): bytes, or a number with b, k, m, g
/// (binary units).
pub fn parse_size(s: &str) -> Result<i64, FlagError> {
    berth_bytesize::parse(s).ok_or_else(|| FlagError::Size(s.to_string()))
}

/// CFS period docker uses for `--cpus`.
pub const CPU_PERIOD: u64 = 100_000;

/// Parses `--cpus` into a CFS quota for [`CPU_PERIOD`].
pub fn parse_cpus(s: &str) -> Result<i64, FlagError> {
    let v: f64 = s.parse().map_err(|_| FlagError::Cpus(s.to_string()))?;
    if !v.is_finite() || v <= 0.0 || v > 1_000_000.0 {
        return Err(FlagError::Cpus(s.to_string()));
    }
    let quota = (v * CPU_PERIOD as f64).round() as i64;
    // the kernel's minimum quota is 1ms
    Ok(quota.max(1000))
}

/// Parses `-e KEY=VAL` or `-e KEY` (taken from berth's own environment; left
/// out if unset, as docker does).
pub fn parse_env(
    s: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, FlagError> {
    let key = s.split_once('=').map(|(k, _)| k).unwrap_or(s);
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(FlagError::Env(s.to_string()));
    }
    if s.contains('=') {
        return Ok(Some(s.to_string()));
    }
    Ok(lookup(s).map(|v| format!("{s}={v}")))
}

/// A process user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// Parses `-u`: `uid`, `uid:gid`, or `root`; names other than root would
/// need the container's /etc/passwd, which berth does not read yet.
pub fn parse_user(s: &str) -> Result<User, FlagError> {
    let bad = || FlagError::User(s.to_string());
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let num = |x: &str| -> Result<u32, FlagError> {
        if x == "root" {
            return Ok(0);
        }
        x.parse::<u32>().map_err(|_| bad())
    };
    let uid = num(u)?;
    let gid = match g {
        Some(g) => num(g)?,
        // docker: a bare uid gets the primary group from passwd, else the uid
        None if uid == 0 => 0,
        None => uid,
    };
    Ok(User { uid, gid })
}

/// Normalises a signal given by name (`KILL`, `SIGKILL`, `kill`) or number
/// into `SIGKILL` form, the form the manager expects.
pub fn parse_signal(s: &str) -> Result<String, FlagError> {
    berth_signal::parse(s)
        .map(berth_signal::name)
        .map_err(|_| FlagError::Signal(s.to_string()))
}

/// A `--restart` policy: (name, max retries).
pub fn parse_restart(s: &str) -> Result<(String, u32), FlagError> {
    let bad = || FlagError::Restart(s.to_string());
    let (name, n) = match s.split_once(':') {
        Some((name, n)) => (name, Some(n)),
        None => (s, None),
    };
    match (name, n) {
        ("no" | "always" | "unless-stopped", None) => Ok((name.to_string(), 0)),
        ("on-failure", None) => Ok((name.to_string(), 0)),
        ("on-failure", Some(n)) => Ok((name.to_string(), n.parse().map_err(|_| bad())?)),
        _ => Err(bad()),
    }
}

/// Checks `-w`.
pub fn parse_workdir(s: &str) -> Result<String, FlagError> {
    if !s.starts_with('/') {
        return Err(FlagError::Workdir(s.to_string()));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let b = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(b.source, "/tmp");
        assert_eq!(b.destination, "/data");
        assert!(b.read_only);
        assert!(!parse_volume("/tmp:/data").unwrap().read_only);
        assert_eq!(
            parse_volume("/tmp:/d:rshared,rw").unwrap().propagation,
            "rshared"
        );
        for bad in [
            "/tmp",
            "/tmp:",
            ":/x",
            "tmp:/x",
            "/tmp:x",
            "/tmp:/",
            "/tmp:/x:bogus",
            "/tmp:/x:ro:rw",
            "/tmp:/x:ro,rw",
            "/definitely/not/here:/x",
        ] {
            let e = parse_volume(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e} should name {bad}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn tmpfs() {
        let t = parse_tmpfs("/run").unwrap();
        assert_eq!(t.options, ["noexec", "nosuid", "nodev"]);
        let t = parse_tmpfs("/run:exec,size=1m").unwrap();
        assert_eq!(t.options, ["nosuid", "nodev", "exec", "size=1m"]);
        assert!(parse_tmpfs("run").is_err());
        assert!(parse_tmpfs("/").is_err());
    }

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("10b").unwrap(), 10);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        for bad in ["", "m", "-1m", "abc", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpus("1.5").unwrap(), 150_000);
        assert_eq!(parse_cpus("0.001").unwrap(), 1000);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("x").is_err());
    }

    #[test]
    fn env_user_signal_restart() {
        let look = |k: &str| (k == "HOME").then(|| "/h".to_string());
        assert_eq!(parse_env("A=1", look).unwrap(), Some("A=1".into()));
        assert_eq!(parse_env("A==", look).unwrap(), Some("A==".into()));
        assert_eq!(parse_env("HOME", look).unwrap(), Some("HOME=/h".into()));
        assert_eq!(parse_env("NOPE", look).unwrap(), None);
        assert!(parse_env("=x", look).is_err());
        assert_eq!(
            parse_user("1000").unwrap(),
            User {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(parse_user("1:2").unwrap(), User { uid: 1, gid: 2 });
        assert_eq!(parse_user("root").unwrap(), User { uid: 0, gid: 0 });
        assert!(parse_user("nobody").is_err());
        assert!(parse_user("1:x").is_err());
        assert_eq!(parse_signal("9").unwrap(), "SIGKILL");
        assert_eq!(parse_signal("term").unwrap(), "SIGTERM");
        assert_eq!(parse_signal("SIGHUP").unwrap(), "SIGHUP");
        assert_eq!(parse_signal("40").unwrap(), "40");
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
        assert_eq!(parse_restart("always").unwrap(), ("always".into(), 0));
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            ("on-failure".into(), 3)
        );
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_workdir("rel").is_err());
    }
}
