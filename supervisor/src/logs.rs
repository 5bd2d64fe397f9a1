//! A container's log: docker json-file lines (`berth_jsonlog`) written by
//! the shim at `ContainerInfo.log_path`.  `logs` reads it,
//! `run`/`attach` follow it while the container runs. A bounded log is
//! rotated by the shim (`berth_jsonlog::rotate`): `logs` reads the rotated
//! files oldest first, and a follower moves on to the new file when the one
//! it reads was renamed away.

use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

// The line format is shared with the shim that writes it.
pub use berth_jsonlog::{parse_line, Entry, Stream};

/// How `logs` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Print {
    pub timestamps: bool,
    /// `--details`: the line's extra attributes before it; berth's logs
    /// carry none, so this is the single space docker prints for none
    pub details: bool,
}

/// Writes an entry to the matching local stream.
pub fn print(
    e: &Entry,
    p: Print,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<()> {
    let w: &mut dyn Write = match e.stream {
        Stream::Stdout => out,
        Stream::Stderr => err,
    };
    if p.timestamps {
        write!(w, "{} ", e.time)?;
    }
    if p.details {
        w.write_all(b" ")?;
    }
    w.write_all(e.text.as_bytes())?;
    w.flush()
}

/// Reads complete lines from a growing file, remembering a torn tail.
pub struct Reader {
    file: File,
    partial: Vec<u8>,
    /// The log's path, when the reader moves on to a new file after a
    /// rotation; with the inode of the file it reads.
    follows: Option<(PathBuf, u64)>,
    /// The spill of lines the log could not take (see
    /// [`berth_jsonlog::SPILL_FILE`]), read along with it.
    spill: Option<Box<Reader>>,
}

impl Reader {
    pub fn new(file: File) -> Reader {
        Reader {
            file,
            partial: Vec::new(),
            follows: None,
            spill: None,
        }
    }

    /// Reads the spill at `path` along with the log (an attached client's
    /// output when the log's disk is full): all of it with `from_start`,
    /// else what is added from now on. A spill that does not exist yet is
    /// read once it appears.
    pub fn with_spill(mut self, path: &Path, from_start: bool) -> Reader {
        let spill = match File::open(path) {
            Ok(f) if from_start => Ok(Reader::new(f).following(path)),
            Ok(f) => Reader::at_end(f).map(|r| r.following(path)),
            Err(_) => Reader::empty_at(path),
        };
        self.spill = spill.ok().map(Box::new);
        self
    }

    /// Makes the reader move on to the file at `path` whenever the one it
    /// reads is rotated away (the file must be the one at `path` now).
    pub fn following(mut self, path: impl Into<PathBuf>) -> Reader {
        let ino = self.file.metadata().map(|m| m.ino()).unwrap_or(0);
        self.follows = Some((path.into(), ino));
        self
    }

    /// Every record of the log at `path` in the order written: its rotated
    /// files, oldest first, then the current file, which the reader goes
    /// on reading. `None` when the log does not exist.
    pub fn whole_log(path: &Path) -> std::io::Result<Option<(Reader, Vec<Entry>)>> {
        let files = berth_jsonlog::rotate::log_files(path);
        let mut entries = Vec::new();
        for older in &files[..files.len() - 1] {
            match File::open(older) {
                Ok(f) => entries.extend(Reader::new(f).read_new()?),
                // rotated away while we looked: it is gone, read on
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let current = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !entries.is_empty() => {
                // between a rotation's rename and the new file
                return Ok(Some((Reader::empty_at(path)?, entries)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut r = Reader::new(current).following(path);
        entries.extend(r.read_new()?);
        Ok(Some((r, entries)))
    }

    /// A reader of nothing yet that picks up the file at `path` once it
    /// appears.
    fn empty_at(path: &Path) -> std::io::Result<Reader> {
        let r = Reader::new(File::open("/dev/null")?);
        Ok(Reader {
            follows: Some((path.to_path_buf(), u64::MAX)),
            ..r
        })
    }

    /// Starts at the current end: only what is written from now on.
    pub fn at_end(mut file: File) -> std::io::Result<Reader> {
        file.seek(SeekFrom::End(0))?;
        Ok(Reader::new(file))
    }

    /// Every complete record written since the last call (across a
    /// rotation, when following the path).
    pub fn read_new(&mut self) -> std::io::Result<Vec<Entry>> {
        let mut out = self.read_file()?;
        if let Some(spill) = self.spill.as_mut() {
            // lines spilled while the log could take none: whole lines,
            // never a torn one, so a failure to read it loses only them
            out.extend(spill.read_new().unwrap_or_default());
        }
        if let Some((path, ino)) = self.follows.clone() {
            match std::fs::metadata(&path) {
                Ok(m) if m.ino() != ino => {
                    // The file was rotated away: the shim writes nothing
                    // more to it, so what is left of it comes first.
                    let next = File::open(&path);
                    out.extend(self.read_file()?);
                    if let Ok(next) = next {
                        let ino = next.metadata().map(|m| m.ino()).unwrap_or(0);
                        self.file = next;
                        self.partial.clear();
                        self.follows = Some((path, ino));
                        out.extend(self.read_file()?);
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The complete records added to the current file.
    fn read_file(&mut self) -> std::io::Result<Vec<Entry>> {
        let mut buf = Vec::new();
        self.file.read_to_end(&mut buf)?;
        if buf.is_empty() {
            return Ok(Vec::new());
        }
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.partial[start..].iter().position(|&b| b == b'\n') {
            if let Some(e) = parse_line(&self.partial[start..start + nl]) {
                out.push(e);
            }
            start += nl + 1;
        }
        self.partial.drain(..start);
        Ok(out)
    }

    /// The last `n` records so far (all with `None`).
    pub fn read_tail(&mut self, n: Option<usize>) -> std::io::Result<Vec<Entry>> {
        let mut all = self.read_new()?;
        if let Some(n) = n {
            let skip = all.len().saturating_sub(n);
            all.drain(..skip);
        }
        Ok(all)
    }

    /// Hands every record to `sink` as it is written until `stop` resolves,
    /// then hands over what was written up to that moment and returns
    /// `stop`'s output.
    pub async fn follow<F: Future>(
        &mut self,
        mut sink: impl FnMut(&Entry),
        stop: F,
    ) -> std::io::Result<F::Output> {
        tokio::pin!(stop);
        loop {
            for e in self.read_new()? {
                sink(&e);
            }
            tokio::select! {
                r = &mut stop => {
                    for e in self.read_new()? {
                        sink(&e);
                    }
                    return Ok(r);
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(10);

/// Parses `--tail`: "all" or a count.
pub fn parse_tail(s: &str) -> Result<Option<usize>, String> {
    if s == "all" {
        return Ok(None);
    }
    s.parse::<usize>()
        .map(Some)
        .map_err(|_| format!("invalid value for --tail: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(log: &str, stream: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": log, "stream": stream, "time": "2026-01-01T00:00:00.000000001Z"})
        )
    }

    #[test]
    fn parses_and_skips_torn_lines() {
        let e = parse_line(line("hi\n", "stderr").trim_end().as_bytes()).unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.text, "hi\n");
        assert!(parse_line(b"{\"log\":").is_none());
    }

    #[test]
    fn a_spill_is_read_along_with_the_log_once_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let spill = dir.path().join("spill.json");
        std::fs::write(&p, line("a\n", "stdout")).unwrap();
        let mut r = Reader::new(File::open(&p).unwrap())
            .following(&p)
            .with_spill(&spill, true);
        let got: Vec<String> = r.read_new().unwrap().into_iter().map(|e| e.text).collect();
        assert_eq!(got, ["a\n"]);
        std::fs::write(&spill, line("b\n", "stderr")).unwrap();
        let got = r.read_new().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].text.as_str(), got[0].stream),
            ("b\n", Stream::Stderr)
        );
        // an existing spill, not from the start: only what comes next
        let mut r = Reader::new(File::open(&p).unwrap()).with_spill(&spill, false);
        assert_eq!(r.read_new().unwrap().len(), 1);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&spill)
            .unwrap();
        f.write_all(line("c\n", "stdout").as_bytes()).unwrap();
        let got: Vec<String> = r.read_new().unwrap().into_iter().map(|e| e.text).collect();
        assert_eq!(got, ["c\n"]);
    }

    #[test]
    fn reader_follows_growth_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let mut w = std::fs::File::create(&p).unwrap();
        w.write_all(line("a\n", "stdout").as_bytes()).unwrap();
        w.write_all(line("b\n", "stdout").as_bytes()).unwrap();
        let full = line("c\n", "stderr");
        let (half1, half2) = full.split_at(10);
        w.write_all(half1.as_bytes()).unwrap();
        let mut r = Reader::new(File::open(&p).unwrap());
        let got = r.read_tail(Some(1)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text, "b\n");
        w.write_all(half2.as_bytes()).unwrap();
        let got = r.read_new().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text, "c\n");
        assert!(r.read_new().unwrap().is_empty());

        let mut out = Vec::new();
        let mut err = Vec::new();
        print(
            &got[0],
            Print {
                timestamps: true,
                details: false,
            },
            &mut out,
            &mut err,
        )
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "2026-01-01T00:00:00.000000001Z c\n"
        );
    }

    #[test]
    fn whole_log_reads_rotated_files_in_order_and_follows_a_rotation() {
        use berth_jsonlog::rotate::{LogFile, Rotation};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let one = line("x\n", "stdout").len() as u64;
        let r = Rotation {
            max_size: one * 2,
            max_files: 3,
        };
        let mut w = LogFile::open(&p, Some(r)).unwrap();
        for i in 0..5 {
            w.write_line(line(&format!("{i}\n"), "stdout").as_bytes())
                .unwrap();
        }
        let (mut reader, got) = Reader::whole_log(&p).unwrap().unwrap();
        let texts: Vec<String> = got.iter().map(|e| e.text.clone()).collect();
        assert_eq!(texts, ["0\n", "1\n", "2\n", "3\n", "4\n"]);
        // a rotation while following: the rest of the old file, then the new
        for i in 5..8 {
            w.write_line(line(&format!("{i}\n"), "stdout").as_bytes())
                .unwrap();
        }
        let texts: Vec<String> = reader
            .read_new()
            .unwrap()
            .iter()
            .map(|e| e.text.clone())
            .collect();
        assert_eq!(texts, ["5\n", "6\n", "7\n"]);
        assert!(Reader::whole_log(&dir.path().join("none"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn follow_drains_after_stop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let mut w = std::fs::File::create(&p).unwrap();
        let mut r = Reader::at_end(File::open(&p).unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut seen = Vec::new();
        let stop = async {
            w.write_all(line("late\n", "stdout").as_bytes()).unwrap();
            7
        };
        let r = rt
            .block_on(r.follow(|e| seen.push(e.text.clone()), stop))
            .unwrap();
        assert_eq!(r, 7);
        assert_eq!(seen, ["late\n"]);
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        assert!(parse_tail("x").is_err());
    }
}
