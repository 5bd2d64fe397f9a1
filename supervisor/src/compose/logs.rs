//! `compose logs` (and the attached `up`): the logs of several containers
//! at once, each line behind its container's name padded to the longest
//! (`app-web-1  | hello`), as docker compose prints them.

use std::fs::File;
use std::io::Write;

use berth_proto::manager::TaskRequest;
use futures_util::future::join_all;

use crate::client::Manager;
use crate::compose::members::ProjectContainer;
use crate::error::CliError;
use crate::logs::{Entry, Reader, Stream};

/// How the lines are printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// `--tail N`: the last N lines of each container; `None`: all
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// `--no-log-prefix`
    pub no_prefix: bool,
    /// the attached `up`: say when a followed container exits
    pub exit_status: bool,
}

/// The `name  | ` column for every name, padded to the longest plus one.
pub fn prefix(name: &str, width: usize) -> String {
    format!("{name:<width$} | ")
}

/// One record as a whole line behind `prefix`.
pub fn line(prefix: &str, e: &Entry, timestamps: bool) -> String {
    let mut s = String::from(prefix);
    if timestamps {
        s.push_str(&e.time);
        s.push(' ');
    }
    s.push_str(&e.text);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn write(e: &Entry, text: &str) {
    let _ = match e.stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        }
        Stream::Stderr => {
            let mut o = std::io::stderr().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        }
    };
}

/// Prints the logs of `containers`; with `follow`, until every one of them
/// has stopped.
pub async fn show(
    m: &Manager,
    containers: &[ProjectContainer],
    o: LogOptions,
) -> Result<(), CliError> {
    let width = containers
        .iter()
        .map(|c| c.info.name.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    let each = containers.iter().map(|c| {
        let p = if o.no_prefix {
            String::new()
        } else {
            prefix(&c.info.name, width)
        };
        async move { one(m, c, &p, o).await }
    });
    for r in join_all(each).await {
        r?;
    }
    Ok(())
}

async fn one(m: &Manager, c: &ProjectContainer, p: &str, o: LogOptions) -> Result<(), CliError> {
    let file = match File::open(&c.info.log_path) {
        Ok(f) => f,
        // never started: nothing logged yet
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CliError::io(format!("open log {}", c.info.log_path), e)),
    };
    let mut r = Reader::new(file);
    let out = |e: &Entry| write(e, &line(p, e, o.timestamps));
    for e in r
        .read_tail(o.tail)
        .map_err(|e| CliError::io("read log", e))?
    {
        out(&e);
    }
    if o.follow && c.is_up() {
        let mut req = TaskRequest::new();
        req.container_id = c.info.id.clone();
        let stop = m.tasks.wait_task(m.ctx(), &req);
        // the container stopped, or the manager went away: either way the
        // log is at its end
        let waited = r
            .follow(out, stop)
            .await
            .map_err(|e| CliError::io("read log", e))?;
        if let (true, Ok(w)) = (o.exit_status, waited) {
            println!("{} exited with code {}", c.info.name, w.exit_code);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_behind_padded_names() {
        let e = Entry {
            time: "2026-01-01T00:00:00.000000001Z".into(),
            stream: Stream::Stdout,
            text: "hello\n".into(),
        };
        let p = prefix("app-web-1", "app-db-10".len() + 1);
        assert_eq!(line(&p, &e, false), "app-web-1  | hello\n");
        assert_eq!(
            line(&p, &e, true),
            "app-web-1  | 2026-01-01T00:00:00.000000001Z hello\n"
        );
        let partial = Entry {
            text: "no newline".into(),
            ..e
        };
        assert_eq!(line("", &partial, false), "no newline\n");
    }
}
