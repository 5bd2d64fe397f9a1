fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| a == "-v" || a == "--version")
    {
        println!("{}", berth_manager::version());
        return;
    }
    eprintln!("berth-manager: the manager service is not implemented yet");
    std::process::exit(1);
}
