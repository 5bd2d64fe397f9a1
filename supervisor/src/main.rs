fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| a == "-v" || a == "--version")
    {
        println!("{}", berth_supervisor::version());
        return;
    }
    eprintln!("berth: commands are not implemented yet; use berth-runtime for now");
    std::process::exit(1);
}
