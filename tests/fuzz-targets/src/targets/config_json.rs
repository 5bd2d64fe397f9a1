//! berth-runtime's `config.json`: parsing (with its field-naming error
//! path) and the semantic checks run before anything is created.

pub const GENERATED: usize = 3000;

pub fn run(data: &[u8]) {
    use berth_runtime::config;
    match config::parse(data) {
        Ok(spec) => {
            let _ = config::validate(&spec);
        }
        Err(e) => {
            // every error renders as one line
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "multi-line error: {msg}");
        }
    }
}
