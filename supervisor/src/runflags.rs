//! `run`/`create` flags that name files or choose where the image comes
//! from: `--env-file`, `--label-file`, `--pull`, `--platform`, `--cidfile`.
//! Everything here is checked before the manager is asked for anything, so
//! a bad value changes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

/// The flags, flattened into `CreateFlags`.
#[derive(Debug, Args, Default, Clone)]
pub struct RunFileFlags {
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable (only this host's is accepted)
    #[arg(long)]
    pub platform: Option<String>,
    /// Write the container ID to the file
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
}

/// When `run`/`create` pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

/// Parses `--pull`.
pub fn pull_policy(s: &str) -> Result<PullPolicy, String> {
    match s {
        "always" => Ok(PullPolicy::Always),
        "missing" => Ok(PullPolicy::Missing),
        "never" => Ok(PullPolicy::Never),
        _ => Err(format!(
            "invalid pull option: '{s}': must be one of \"always\", \"missing\" or \"never\""
        )),
    }
}

/// This host's platform as OCI names it (`linux/amd64`, `linux/arm64`, …).
pub fn host_platform() -> (&'static str, &'static str) {
    (std::env::consts::OS, oci_arch(std::env::consts::ARCH))
}

fn oci_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Checks `--platform os[/arch[/variant]]`: berth runs this host's images
/// only (it has no emulation), so any other platform is refused.
pub fn check_platform(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "invalid platform '{s}': expected os[/arch[/variant]], e.g. linux/amd64"
        ));
    }
    let (os, arch) = host_platform();
    let want_os = parts[0].to_ascii_lowercase();
    let want_arch = parts
        .get(1)
        .map(|a| oci_arch(&a.to_ascii_lowercase()).to_string());
    if want_os != os || want_arch.as_deref().is_some_and(|a| a != arch) {
        return Err(format!(
            "platform '{s}' is not supported: this host runs {os}/{arch} images only (berth has no emulation)"
        ));
    }
    Ok(())
}

/// Reads `KEY=VALUE` lines from `--env-file`/`--label-file` files: blank
/// lines and `#` comments skipped; a key with whitespace is refused.
/// `what` is "env" or "label", for the error.
pub fn read_lines_file(what: &str, path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("invalid {what} file ({}): not UTF-8 text", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map(|(k, _)| k).unwrap_or(line);
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "invalid {what} file ({}): line {}: variable '{key}' contains whitespaces or is empty",
                path.display(),
                n + 1
            ));
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// The `--env-file` entries then the `-e` ones (later ones win, as in
/// docker).
pub fn env_entries(f: &RunFileFlags, env: &[String]) -> Result<Vec<String>, String> {
    env_files_then(&f.env_file, env)
}

/// `files`' entries then `env`'s: `run`'s and `exec`'s `--env-file`.
pub fn env_files_then(files: &[PathBuf], env: &[String]) -> Result<Vec<String>, String> {
    let mut all = Vec::new();
    for p in files {
        all.extend(read_lines_file("env", p)?);
    }
    all.extend(env.iter().cloned());
    Ok(all)
}

/// The `--label-file` entries then the `--label` ones.
pub fn label_entries(f: &RunFileFlags, labels: &[String]) -> Result<Vec<String>, String> {
    let mut all = Vec::new();
    for p in &f.label_file {
        all.extend(read_lines_file("label", p)?);
    }
    all.extend(labels.iter().cloned());
    Ok(all)
}

/// Checks everything above that can be checked without the manager.
pub fn validate(f: &RunFileFlags) -> Result<(), String> {
    pull_policy(&f.pull)?;
    if let Some(p) = &f.platform {
        check_platform(p)?;
    }
    // --cidfile is checked by claiming it (CidFile::claim), which cannot race
    Ok(())
}

/// `--cidfile`, created empty and exclusively before the container (a
/// second run naming the same file fails), then given the id, or removed if
/// the container was not made.
pub struct CidFile {
    path: PathBuf,
    file: std::fs::File,
}

impl CidFile {
    pub fn claim(path: &Path) -> Result<CidFile, String> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "container ID file found, make sure the other container isn't running or delete {}",
                    path.display()
                ),
                _ => format!("create container ID file {}: {e}", path.display()),
            })?;
        Ok(CidFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the id and syncs it.
    pub fn write(mut self, id: &str) -> Result<(), String> {
        let err =
            |e: std::io::Error| format!("write container ID file {}: {e}", self.path.display());
        self.file.write_all(id.as_bytes()).map_err(err)?;
        self.file.sync_all().map_err(err)
    }

    /// Removes the file: no container was made.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_and_platform() {
        assert_eq!(pull_policy("never"), Ok(PullPolicy::Never));
        assert!(pull_policy("sometimes")
            .unwrap_err()
            .contains("'sometimes'"));
        let (os, arch) = host_platform();
        check_platform(os).unwrap();
        check_platform(&format!("{os}/{arch}")).unwrap();
        check_platform(&format!("{os}/{}", std::env::consts::ARCH)).unwrap();
        let other = if arch == "amd64" { "arm64" } else { "amd64" };
        assert!(check_platform(&format!("linux/{other}"))
            .unwrap_err()
            .contains("not supported"));
        assert!(check_platform("windows").is_err());
        for bad in ["", "linux/", "a/b/c/d"] {
            assert!(check_platform(bad)
                .unwrap_err()
                .contains("invalid platform"));
        }
    }

    #[test]
    fn env_file_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("env");
        std::fs::write(&p, "# comment\n\nA=1\n  B=two words\nHOME\n").unwrap();
        let f = RunFileFlags {
            env_file: vec![p.clone()],
            ..Default::default()
        };
        assert_eq!(
            env_entries(&f, &["A=2".into()]).unwrap(),
            ["A=1", "B=two words", "HOME", "A=2"]
        );
        std::fs::write(&p, "A=1\nbad key=1\n").unwrap();
        let e = read_lines_file("env", &p).unwrap_err();
        assert!(e.contains("line 2") && e.contains("'bad key'"), "{e}");
        let e = read_lines_file("label", &d.path().join("none")).unwrap_err();
        assert!(e.contains("none"), "{e}");
    }
}
