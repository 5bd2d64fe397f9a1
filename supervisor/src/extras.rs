//! Shell completions (`berth completion bash|zsh|fish`) and man pages
//! (`make man`), both generated from the clap definitions of
//! [`crate::cli`], so they never drift from what the parser accepts.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// The completion script for `shell`.
pub fn completion(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "berth", &mut out);
    out
}

/// Prints the completion script; a closed pipe (`| head`) is not an error.
pub fn print_completion(shell: clap_complete::Shell) {
    let _ = std::io::stdout().write_all(&completion(shell));
}

/// Writes one man page per command and subcommand into `dir` (`berth.1`,
/// `berth-run.1`, `berth-network-ls.1`, …); returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, "berth", dir, &mut written)?;
    Ok(written)
}

fn write_tree(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    // write new, then rename: a reader never sees half a page
    let tmp = dir.join(format!(".{name}.1.tmp"));
    std::fs::write(&tmp, &buf)?;
    std::fs::rename(&tmp, &path)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_tree(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_the_commands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let text = String::from_utf8(completion(shell)).unwrap();
            for word in ["run", "ps", "images", "network", "completion"] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn a_man_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let pages = write_man_pages(dir.path()).unwrap();
        for p in [
            "berth.1",
            "berth-run.1",
            "berth-ps.1",
            "berth-network-ls.1",
            "berth-image-ls.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(p)).unwrap();
            assert!(text.starts_with(".ie") || text.contains(".TH"), "{p}");
        }
        let top_level = Cli::command().get_subcommands().count();
        assert!(pages.len() > top_level, "{} pages", pages.len());
    }
}
