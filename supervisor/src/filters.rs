//! docker's list filters (`ps -f`, `images -f`), written once for the CLI
//! and the Docker API: [`Filters`] is what both faces hand in — `-f
//! key=value` flags or the API's `{"status":["running"]}` JSON — and the
//! selection follows docker's rules: values of one key are alternatives
//! (OR), different keys must all hold (AND), `label` values must all hold.

use std::collections::BTreeMap;

use serde_json::Value;

/// Why a filter was refused; worded as docker's daemon words it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// `-f name` without `=`: a usage error.
    #[error("invalid argument {0:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)")]
    Syntax(String),
    /// A key the list does not filter on.
    #[error("Invalid filter '{0}'")]
    Key(String),
    /// A value the key does not take (`status=bogus`).
    #[error("Invalid filter '{0}={1}'")]
    Value(String, String),
    /// A health value outside starting|healthy|unhealthy|none.
    #[error("Unrecognised filter value for {0}: {1}")]
    Unrecognised(String, String),
    /// `exited=abc`.
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    NotANumber(String),
    /// `before=`/`since=` naming no container.
    #[error("no such container {0}")]
    NoContainer(String),
    /// `before=`/`since=` naming no image.
    #[error("No such image: {0}")]
    NoImage(String),
    /// A regular expression that does not compile (`name=`, `id=`).
    #[error("invalid filter value {0:?}: {1}")]
    Pattern(String, String),
    /// `expose=`/port values that do not read as `PORT[-PORT][/PROTO]`.
    #[error("error while looking up for {0} {1}: {2}")]
    Port(String, String, String),
    /// `expose=` given a `host:container` pair.
    #[error("filter for '{0}' should not contain ':': {1}")]
    PortColon(String, String),
    /// `until=` that is no time docker reads (see [`crate::since`]).
    #[error("failed to parse value as time or duration: {0:?}")]
    Time(String),
    /// The API's `filters` parameter is not JSON of the expected shape.
    #[error("invalid filters: {0}")]
    Json(String),
}

impl FilterError {
    /// The CLI's exit code: 125 for a flag that does not parse, 1 for what
    /// the daemon refuses.
    pub fn exit_code(&self) -> i32 {
        match self {
            FilterError::Syntax(_) => 125,
            _ => 1,
        }
    }

    /// The line the CLI prints: daemon refusals as docker prints them.
    pub fn cli_message(&self) -> String {
        match self {
            FilterError::Syntax(_) => self.to_string(),
            _ => format!("Error response from daemon: {self}"),
        }
    }
}

/// Filter values by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// From `-f key=value` flags.
    pub fn from_flags(flags: &[String]) -> Result<Filters, FilterError> {
        let mut f = Filters::default();
        for arg in flags {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| FilterError::Syntax(arg.clone()))?;
            f.0.entry(k.trim().to_lowercase())
                .or_default()
                .push(v.to_string());
        }
        Ok(f)
    }

    /// From the API's `filters` JSON: `{"key":["v"]}` or the older
    /// `{"key":{"v":true}}`.
    pub fn from_json(text: &str) -> Result<Filters, FilterError> {
        let v: Value = serde_json::from_str(text).map_err(|e| FilterError::Json(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| FilterError::Json("want an object".into()))?;
        let mut f = Filters::default();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(String::from))
                    .collect::<Option<_>>()
                    .ok_or_else(|| FilterError::Json(format!("{k}: want strings")))?,
                Value::Object(o) => o
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(x, _)| x.clone())
                    .collect(),
                _ => return Err(FilterError::Json(format!("{k}: want a list"))),
            };
            f.0.insert(k.clone(), list);
        }
        Ok(f)
    }

    /// Refuses keys outside `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError::Key(k.clone())),
            None => Ok(()),
        }
    }

    /// The values given for `key`.
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        !self.get(key).is_empty()
    }

    /// True when `key` has no values or one of them satisfies `pred`.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        let vals = self.get(key);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    }

    /// docker's label rule: every `label=k` / `label=k=v` holds.
    pub fn labels_match<'a>(&self, key: &str, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels(k) == Some(v),
            None => labels(want).is_some(),
        })
    }
}

/// What container filters look at, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub struct ContainerFacts {
    pub id: String,
    pub name: String,
    /// The reference the container was created from (`busybox`).
    pub image: String,
    pub image_id: String,
    pub status: String,
    pub exit_code: i32,
    pub labels: BTreeMap<String, String>,
    pub networks: Vec<String>,
    /// Volume names and mount destinations.
    pub volumes: Vec<String>,
    /// starting, healthy, unhealthy or none.
    pub health: String,
    /// Creation time as (seconds, nanos), for before/since.
    pub created: (i64, i32),
    /// Published container ports as `80/tcp`.
    pub published: Vec<String>,
    /// Exposed container ports (the image's, `--expose`, published) as `80/tcp`.
    pub exposed: Vec<String>,
}

const CONTAINER_KEYS: [&str; 15] = [
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "is-task",
    "isolation",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
const STATUSES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// A checked container filter.
pub struct ContainerFilter {
    f: Filters,
    names: Vec<regex::Regex>,
    ids: Vec<regex::Regex>,
    exited: Vec<i32>,
    /// `expose=` values spelled out, one `80/tcp` per port.
    exposed: Vec<String>,
    /// `publish=` values likewise.
    published: Vec<String>,
}

/// The ports an `expose=` or `publish=` (`key`) value names, as docker
/// reads it: `PORT[-PORT][/PROTO]`, the protocol `tcp` when left out.
fn filter_ports(key: &str, v: &str) -> Result<Vec<String>, FilterError> {
    if v.contains(':') {
        return Err(FilterError::PortColon(key.into(), v.into()));
    }
    let bad = |why: String| FilterError::Port(key.into(), v.into(), why);
    let (port, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    let num = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            let kind = if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() {
                "value out of range"
            } else {
                "invalid syntax"
            };
            bad(format!("strconv.ParseUint: parsing {p:?}: {kind}"))
        })
    };
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(port)?, num(port)?),
    };
    if end < start {
        return Err(bad(format!("Invalid range specified for the Port: {port}")));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

impl ContainerFilter {
    /// Checks keys and values before anything is listed.
    pub fn new(f: Filters) -> Result<ContainerFilter, FilterError> {
        f.only(&CONTAINER_KEYS)?;
        for v in f.get("is-task") {
            if v != "true" && v != "false" {
                return Err(FilterError::Value("is-task".into(), v.clone()));
            }
        }
        for s in f.get("status") {
            if !STATUSES.contains(&s.as_str()) {
                return Err(FilterError::Value("status".into(), s.clone()));
            }
        }
        for h in f.get("health") {
            if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
                return Err(FilterError::Unrecognised("health".into(), h.clone()));
            }
        }
        let exited = f
            .get("exited")
            .iter()
            .map(|e| e.parse().map_err(|_| FilterError::NotANumber(e.clone())))
            .collect::<Result<_, _>>()?;
        let re = |key: &str| -> Result<Vec<regex::Regex>, FilterError> {
            f.get(key)
                .iter()
                .map(|p| {
                    regex::Regex::new(p).map_err(|e| FilterError::Pattern(p.clone(), e.to_string()))
                })
                .collect()
        };
        let ports = |key: &str| -> Result<Vec<String>, FilterError> {
            let mut all = Vec::new();
            for v in f.get(key) {
                all.extend(filter_ports(key, v)?);
            }
            Ok(all)
        };
        let exposed = ports("expose")?;
        let published = ports("publish")?;
        Ok(ContainerFilter {
            names: re("name")?,
            ids: re("id")?,
            exited,
            exposed,
            published,
            f,
        })
    }

    /// Whether stopped containers are listed without `-a`: a status
    /// filter asks for them, as docker's does.
    pub fn wants_all(&self) -> bool {
        self.f.contains("status")
    }

    /// Keeps the containers that match, in order; `before`/`since` name
    /// containers among `all`.
    pub fn select<T>(
        &self,
        all: Vec<T>,
        facts: impl Fn(&T) -> ContainerFacts,
    ) -> Result<Vec<T>, FilterError> {
        // no filter: every one, without gathering what filters look at
        // (a parse of each spec: most of `ps`'s time at 1000 containers)
        if self.f.0.is_empty() {
            return Ok(all);
        }
        let facts_of: Vec<ContainerFacts> = all.iter().map(&facts).collect();
        let created_of = |key: &str| -> Result<Vec<(i64, i32)>, FilterError> {
            self.f
                .get(key)
                .iter()
                .map(|r| {
                    facts_of
                        .iter()
                        .find(|c| c.name == *r || c.id == *r)
                        .or_else(|| facts_of.iter().find(|c| c.id.starts_with(r.as_str())))
                        .map(|c| c.created)
                        .ok_or_else(|| FilterError::NoContainer(r.clone()))
                })
                .collect()
        };
        let before = created_of("before")?;
        let since = created_of("since")?;
        Ok(all
            .into_iter()
            .zip(facts_of.iter())
            .filter(|(_, c)| {
                self.matches(c)
                    && before.iter().all(|b| c.created < *b)
                    && since.iter().all(|s| c.created > *s)
            })
            .map(|(t, _)| t)
            .collect())
    }

    fn matches(&self, c: &ContainerFacts) -> bool {
        let f = &self.f;
        let slash_name = format!("/{}", c.name);
        (self.names.is_empty() || self.names.iter().any(|r| r.is_match(&slash_name)))
            && (self.ids.is_empty() || self.ids.iter().any(|r| r.is_match(&c.id)))
            && f.any("status", |s| s == c.status)
            && (self.exited.is_empty()
                || c.status == "exited" && self.exited.contains(&c.exit_code))
            && f.labels_match("label", |k| c.labels.get(k).map(String::as_str))
            && f.any("ancestor", |a| image_matches(a, &c.image, &c.image_id))
            && f.any("network", |n| c.networks.iter().any(|x| x == n))
            && f.any("volume", |v| c.volumes.iter().any(|x| x == v))
            && f.any("health", |h| h == c.health)
            && (!f.contains("publish") || c.published.iter().any(|p| self.published.contains(p)))
            && (!f.contains("expose") || c.exposed.iter().any(|p| self.exposed.contains(p)))
            // no swarm: no container is a task
            && f.any("is-task", |t| t == "false")
        // isolation is a Windows setting: docker on Linux accepts any
        // value and every container matches it
    }
}

/// `ancestor=`: an image by reference (a missing tag reads `latest`) or
/// by id prefix.
fn image_matches(want: &str, image: &str, image_id: &str) -> bool {
    let norm = |r: &str| {
        let r = crate::format::familiar(r);
        let last = r.rsplit('/').next().unwrap_or(&r);
        if last.contains(':') || r.contains('@') {
            r
        } else {
            format!("{r}:latest")
        }
    };
    let id = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    let w = want.strip_prefix("sha256:").unwrap_or(want);
    norm(want) == norm(image) || (w.len() >= 4 && id.starts_with(w))
}

/// What image filters look at.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    pub id: String,
    /// Familiar references (`busybox:latest`); empty for a dangling image.
    pub references: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub created: (i64, i32),
}

/// A checked image filter.
pub struct ImageFilter {
    f: Filters,
    dangling: Option<bool>,
}

impl ImageFilter {
    pub fn new(f: Filters) -> Result<ImageFilter, FilterError> {
        f.only(&["before", "dangling", "label", "reference", "since"])?;
        let dangling = match f.get("dangling") {
            [] => None,
            [v] if v.eq_ignore_ascii_case("true") || v == "1" => Some(true),
            [v] if v.eq_ignore_ascii_case("false") || v == "0" => Some(false),
            vals => {
                return Err(FilterError::Value(
                    "dangling".into(),
                    format!("[{}]", vals.join(" ")),
                ))
            }
        };
        Ok(ImageFilter { f, dangling })
    }

    /// Keeps the images that match; `before`/`since` name images among
    /// `all` by reference or id.
    pub fn select<T>(
        &self,
        all: Vec<T>,
        facts: impl Fn(&T) -> ImageFacts,
    ) -> Result<Vec<T>, FilterError> {
        // no filter: every one, without gathering what filters look at
        // (a parse of each spec: most of `ps`'s time at 1000 containers)
        if self.f.0.is_empty() {
            return Ok(all);
        }
        let facts_of: Vec<ImageFacts> = all.iter().map(&facts).collect();
        let created_of = |key: &str| -> Result<Vec<(i64, i32)>, FilterError> {
            self.f
                .get(key)
                .iter()
                .map(|r| {
                    facts_of
                        .iter()
                        .find(|i| {
                            i.references.iter().any(|x| image_matches(r, x, ""))
                                || image_matches(r, "", &i.id)
                        })
                        .map(|i| i.created)
                        .ok_or_else(|| {
                            let shown = if r.contains(':') {
                                r.clone()
                            } else {
                                format!("{r}:latest")
                            };
                            FilterError::NoImage(shown)
                        })
                })
                .collect()
        };
        let before = created_of("before")?;
        let since = created_of("since")?;
        Ok(all
            .into_iter()
            .zip(facts_of.iter())
            .filter(|(_, i)| {
                self.dangling.is_none_or(|d| d == i.references.is_empty())
                    && self
                        .f
                        .labels_match("label", |k| i.labels.get(k).map(String::as_str))
                    && self.f.any("reference", |pat| {
                        i.references.iter().any(|r| reference_matches(pat, r))
                    })
                    && before.iter().all(|b| i.created < *b)
                    && since.iter().all(|s| i.created > *s)
            })
            .map(|(t, _)| t)
            .collect())
    }
}

/// `reference=`: a glob (`*`, `?`, `[…]` not crossing `/`) on the familiar
/// name alone or on name:tag.
fn reference_matches(pat: &str, reference: &str) -> bool {
    let name = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => n,
        _ => reference,
    };
    glob(pat, reference) || glob(pat, name)
}

/// Go's `path.Match`: `*` and `?` never match `/`.
fn glob(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|c| *c != '/') && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(c) = t.first() else { return false };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &t[1..])
            }
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && go(&p[2..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: &[&str]) -> Filters {
        Filters::from_flags(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ctr(name: &str, status: &str, t: i64) -> ContainerFacts {
        ContainerFacts {
            id: format!("{name}0123456789"),
            name: name.into(),
            image: "docker.io/library/busybox:latest".into(),
            image_id: "sha256:abcdef0123".into(),
            status: status.into(),
            labels: [("app".to_string(), name.to_string())].into(),
            networks: vec!["bridge".into()],
            volumes: vec!["data".into(), "/data".into()],
            health: "none".into(),
            created: (t, 0),
            published: if name == "web" {
                vec!["80/tcp".into()]
            } else {
                vec![]
            },
            exposed: if name == "web" {
                vec!["80/tcp".into(), "8001/udp".into()]
            } else {
                vec![]
            },
            ..Default::default()
        }
    }

    fn names(f: &[&str], all: Vec<ContainerFacts>) -> Result<Vec<String>, FilterError> {
        let cf = ContainerFilter::new(flags(f))?;
        Ok(cf
            .select(all, |c| c.clone())?
            .into_iter()
            .map(|c| c.name)
            .collect())
    }

    #[test]
    fn same_key_or_different_keys_and() {
        let all = || {
            vec![
                ctr("web", "running", 1),
                ctr("db", "exited", 2),
                ctr("cache", "running", 3),
            ]
        };
        assert_eq!(names(&["status=running"], all()).unwrap(), ["web", "cache"]);
        assert_eq!(
            names(&["status=running", "status=exited"], all()).unwrap(),
            ["web", "db", "cache"]
        );
        assert_eq!(
            names(&["status=running", "name=web"], all()).unwrap(),
            ["web"]
        );
        assert_eq!(names(&["name=^/c"], all()).unwrap(), ["cache"]);
        assert_eq!(names(&["label=app=db"], all()).unwrap(), ["db"]);
        assert_eq!(
            names(&["label=app", "label=nope"], all()).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(&["before=cache"], all()).unwrap(), ["web", "db"]);
        assert_eq!(names(&["since=web"], all()).unwrap(), ["db", "cache"]);
        assert_eq!(names(&["ancestor=busybox"], all()).unwrap().len(), 3);
        assert_eq!(names(&["ancestor=busybox:1"], all()).unwrap().len(), 0);
        assert_eq!(names(&["ancestor=abcdef"], all()).unwrap().len(), 3);
        assert_eq!(names(&["exited=0"], all()).unwrap(), ["db"]);
        assert_eq!(
            names(&["network=bridge", "volume=/data"], all())
                .unwrap()
                .len(),
            3
        );
        assert_eq!(names(&["id=db01"], all()).unwrap(), ["db"]);
        assert_eq!(names(&["health=none"], all()).unwrap().len(), 3);
        assert_eq!(names(&["publish=80"], all()).unwrap(), ["web"]);
        assert_eq!(names(&["publish=80/udp"], all()).unwrap().len(), 0);
        assert_eq!(names(&["is-task=false"], all()).unwrap().len(), 3);
        assert_eq!(names(&["is-task=true"], all()).unwrap().len(), 0);
        assert_eq!(names(&["expose=80"], all()).unwrap(), ["web"]);
        assert_eq!(names(&["expose=8000-8002/udp"], all()).unwrap(), ["web"]);
        assert_eq!(names(&["expose=8001"], all()).unwrap().len(), 0);
        assert_eq!(names(&["expose=80/xyz"], all()).unwrap().len(), 0);
        assert_eq!(names(&["isolation=hyperv"], all()).unwrap().len(), 3);
        assert_eq!(names(&["publish=79-81"], all()).unwrap(), ["web"]);
    }

    #[test]
    fn bad_filters_read_as_docker() {
        let err = |f: &[&str]| {
            names(f, vec![ctr("web", "running", 1)])
                .unwrap_err()
                .cli_message()
        };
        assert_eq!(
            err(&["foo=bar"]),
            "Error response from daemon: Invalid filter 'foo'"
        );
        assert_eq!(
            err(&["status=bogus"]),
            "Error response from daemon: Invalid filter 'status=bogus'"
        );
        assert_eq!(
            err(&["health=bogus"]),
            "Error response from daemon: Unrecognised filter value for health: bogus"
        );
        assert_eq!(
            err(&["exited=abc"]),
            "Error response from daemon: strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            err(&["before=nope"]),
            "Error response from daemon: no such container nope"
        );
        assert_eq!(
            err(&["expose=bad"]),
            "Error response from daemon: error while looking up for expose bad: strconv.ParseUint: parsing \"bad\": invalid syntax"
        );
        assert_eq!(
            err(&["expose=70000"]),
            "Error response from daemon: error while looking up for expose 70000: strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert_eq!(
            err(&["expose=80-79"]),
            "Error response from daemon: error while looking up for expose 80-79: Invalid range specified for the Port: 80-79"
        );
        assert_eq!(
            err(&["publish=bad"]),
            "Error response from daemon: error while looking up for publish bad: strconv.ParseUint: parsing \"bad\": invalid syntax"
        );
        assert_eq!(
            err(&["expose=1:2"]),
            "Error response from daemon: filter for 'expose' should not contain ':': 1:2"
        );
        let e = Filters::from_flags(&["name".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(e
            .cli_message()
            .contains("bad format of filter (expected name=value)"));
    }

    #[test]
    fn api_json_filters() {
        let f =
            Filters::from_json(r#"{"status":["running","paused"],"label":{"a=b":true}}"#).unwrap();
        assert_eq!(f.get("status"), ["running", "paused"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(Filters::from_json("[1]").is_err());
    }

    #[test]
    fn images() {
        let img = |refs: &[&str], t| ImageFacts {
            id: format!("sha256:{t}0000aaaa"),
            references: refs.iter().map(|s| s.to_string()).collect(),
            labels: [("k".to_string(), "v".to_string())].into(),
            created: (t, 0),
        };
        let all = || {
            vec![
                img(&["busybox:latest"], 1),
                img(&[], 2),
                img(&["127.0.0.1:5000/x/app:v1"], 3),
            ]
        };
        let sel = |f: &[&str]| -> Result<Vec<i64>, FilterError> {
            Ok(ImageFilter::new(flags(f))?
                .select(all(), |i| i.clone())?
                .iter()
                .map(|i| i.created.0)
                .collect())
        };
        assert_eq!(sel(&["dangling=true"]).unwrap(), [2]);
        assert_eq!(sel(&["dangling=false"]).unwrap(), [1, 3]);
        assert_eq!(sel(&["reference=bus*"]).unwrap(), [1]);
        assert_eq!(sel(&["reference=busybox:lat*"]).unwrap(), [1]);
        assert_eq!(sel(&["reference=*/x/app"]).unwrap(), [3]);
        assert_eq!(sel(&["reference=x/*"]).unwrap(), Vec::<i64>::new());
        assert_eq!(sel(&["reference=127.0.0.1:5000/*/*"]).unwrap(), [3]);
        assert_eq!(
            sel(&["reference=busybox", "reference=*/*/app:v1"]).unwrap(),
            [1, 3]
        );
        assert_eq!(sel(&["before=127.0.0.1:5000/x/app:v1"]).unwrap(), [1, 2]);
        assert_eq!(sel(&["since=busybox"]).unwrap(), [2, 3]);
        assert_eq!(sel(&["label=k=v"]).unwrap().len(), 3);
        let e = sel(&["dangling=maybe"]).unwrap_err();
        assert_eq!(
            e.cli_message(),
            "Error response from daemon: Invalid filter 'dangling=[maybe]'"
        );
        assert_eq!(
            sel(&["before=nope"]).unwrap_err().to_string(),
            "No such image: nope:latest"
        );
    }
}
