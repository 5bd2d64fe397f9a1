//! Per-layer progress for pull, push and load, as docker draws it: one line
//! per layer, redrawn in place on a terminal, one line per change otherwise.

use std::io::Write;

use berth_proto::manager::Progress;

use crate::format::human_size;

/// Draws a stream of progress records.
pub struct Display<W: Write> {
    out: W,
    tty: bool,
    /// layer ids in first-seen order, with the last line drawn for each
    lines: Vec<(String, String)>,
}

impl<W: Write> Display<W> {
    pub fn new(out: W, tty: bool) -> Self {
        Display {
            out,
            tty,
            lines: Vec::new(),
        }
    }

    /// Takes one record; summary lines (`done` or a message) print as is.
    pub fn update(&mut self, p: &Progress) -> std::io::Result<()> {
        if !p.message.is_empty() {
            writeln!(self.out, "{}", p.message)?;
            return self.out.flush();
        }
        if p.done || p.id.is_empty() {
            return Ok(());
        }
        let line = render(p);
        match self.lines.iter().position(|(id, _)| *id == p.id) {
            Some(i) if self.lines[i].1 == line => {}
            Some(i) if self.tty => {
                let up = self.lines.len() - i;
                write!(self.out, "\x1b[{up}A\x1b[2K\r{line}\x1b[{up}B\r")?;
                self.lines[i].1 = line;
            }
            Some(i) => {
                // off a terminal only changes of action are worth a line
                let changed = action_of(&self.lines[i].1) != action_of(&line);
                if changed {
                    writeln!(self.out, "{}", plain(p))?;
                }
                self.lines[i].1 = line;
            }
            None => {
                if self.tty {
                    writeln!(self.out, "{line}")?;
                } else {
                    writeln!(self.out, "{}", plain(p))?;
                }
                self.lines.push((p.id.clone(), line));
            }
        }
        self.out.flush()
    }
}

fn action_of(line: &str) -> &str {
    line.split_once(": ")
        .map(|(_, rest)| rest.split(" [").next().unwrap_or(rest))
        .unwrap_or(line)
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn plain(p: &Progress) -> String {
    format!("{}: {}", p.id, capitalized(&p.action))
}

/// "abc123: Downloading [=====>      ] 1.2MB/3.4MB".
pub fn render(p: &Progress) -> String {
    let mut s = plain(p);
    if p.total > 0 && p.current < p.total {
        const WIDTH: u64 = 50;
        let filled = (p.current.min(p.total) * WIDTH / p.total) as usize;
        let mut bar = "=".repeat(filled.saturating_sub(1));
        if filled > 0 {
            bar.push('>');
        }
        s.push_str(&format!(
            " [{bar:<width$}] {}/{}",
            human_size(p.current),
            human_size(p.total),
            width = WIDTH as usize
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, action: &str, cur: u64, total: u64) -> Progress {
        let mut p = Progress::new();
        p.id = id.into();
        p.action = action.into();
        p.current = cur;
        p.total = total;
        p
    }

    #[test]
    fn renders_bars() {
        assert_eq!(
            render(&p("abc", "pull complete", 0, 0)),
            "abc: Pull complete"
        );
        let r = render(&p("abc", "downloading", 1_000_000, 2_000_000));
        assert!(
            r.starts_with("abc: Downloading [========================>"),
            "{r}"
        );
        assert!(r.ends_with("] 1MB/2MB"), "{r}");
    }

    #[test]
    fn plain_output_prints_changes_only() {
        let mut out = Vec::new();
        let mut d = Display::new(&mut out, false);
        d.update(&p("l1", "downloading", 1, 10)).unwrap();
        d.update(&p("l1", "downloading", 5, 10)).unwrap();
        d.update(&p("l1", "extracting", 0, 0)).unwrap();
        let mut s = Progress::new();
        s.message = "Loaded image: x".into();
        s.done = true;
        d.update(&s).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "l1: Downloading\nl1: Extracting\nLoaded image: x\n"
        );
    }

    #[test]
    fn tty_output_redraws_in_place() {
        let mut out = Vec::new();
        let mut d = Display::new(&mut out, true);
        d.update(&p("l1", "waiting", 0, 0)).unwrap();
        d.update(&p("l2", "waiting", 0, 0)).unwrap();
        d.update(&p("l1", "pull complete", 0, 0)).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.ends_with("\x1b[2A\x1b[2K\rl1: Pull complete\x1b[2B\r"),
            "{s:?}"
        );
    }
}
