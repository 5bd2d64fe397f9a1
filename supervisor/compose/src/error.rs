//! The one error type of compose loading: every message names what was wrong
//! and where (file, path in the file, line), in lower case.

use std::fmt;
use std::path::PathBuf;

/// Where in the compose files a problem sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as given (`-` for stdin).
    pub file: String,
    /// The path inside the file, `services.web.ports[0]`; empty for the root.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("no compose file found in {} or its parents (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml); name one with -f", .dir.display())]
    NotFound { dir: PathBuf },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: invalid yaml: {message}")]
    Yaml { file: String, message: String },
    /// A wrong type, an unknown key, a bad value, a failed interpolation.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    #[error("{}:{line}: {message}", .path.display())]
    EnvFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid project name {0:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit")]
    ProjectName(String),
    #[error("project name is empty: give one with -p or name: in the compose file")]
    EmptyProjectName,
    #[error("dependency cycle between services: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("service {service:?} depends on undefined service {dependency:?}")]
    UnknownDependency { service: String, dependency: String },
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("cannot render the configuration: {0}")]
    Render(String),
}
