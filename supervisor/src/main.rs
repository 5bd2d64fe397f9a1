fn main() {
    let code = berth_supervisor::main_with_args(std::env::args_os());
    // exit without unwinding the async runtime: a thread may still sit in a
    // blocking read of the terminal
    std::process::exit(code);
}
