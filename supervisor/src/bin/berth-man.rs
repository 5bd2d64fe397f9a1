//! `berth-man DIR`: writes berth's man pages into DIR (`make man`).

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/man".into());
    match berth_supervisor::extras::write_man_pages(&dir) {
        Ok(pages) => println!("{} man pages in {}", pages.len(), dir.display()),
        Err(e) => {
            eprintln!("berth-man: write {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}
