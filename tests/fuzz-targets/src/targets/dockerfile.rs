//! The Dockerfile parser and the word expansion every instruction's
//! arguments go through, with the variables its ENV and ARG lines set.

pub const GENERATED: usize = 3000;

use berth_build::lex;
use berth_build::parser::{self, Command, Kind};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = parser::parse("Dockerfile", &text) else {
        return;
    };
    let esc = parsed.escape;
    let mut vars: Vec<(String, String)> = vec![("HOME".into(), "/root".into())];
    for ins in &parsed.instructions {
        let mut words: Vec<String> = Vec::new();
        match &ins.kind {
            Kind::From { image, name, platform } => {
                words.push(image.clone());
                words.extend(name.iter().cloned());
                words.extend(platform.iter().cloned());
            }
            Kind::Run(c) | Kind::Cmd(c) | Kind::Entrypoint(c) => words.extend(command_words(c)),
            Kind::Env(pairs) | Kind::Label(pairs) => {
                for (k, v) in pairs {
                    let value = lex::expand(v, &vars, esc).unwrap_or_default();
                    words.push(k.clone());
                    if matches!(ins.kind, Kind::Env(_)) {
                        vars.push((k.clone(), value));
                    }
                }
            }
            Kind::Arg(args) => {
                for (k, v) in args {
                    let value = v.as_ref().map(|v| lex::expand(v, &vars, esc).unwrap_or_default());
                    vars.push((k.clone(), value.unwrap_or_default()));
                }
            }
            Kind::Expose(w) | Kind::Volume(w) | Kind::Shell(w) => words.extend(w.iter().cloned()),
            Kind::User(w) | Kind::Workdir(w) | Kind::StopSignal(w) | Kind::Maintainer(w) => {
                words.push(w.clone())
            }
            Kind::Copy(c) | Kind::Add(c) => {
                words.extend(c.sources.iter().cloned());
                words.push(c.dest.clone());
                words.extend(c.from.iter().chain(&c.chown).chain(&c.chmod).cloned());
            }
            Kind::Healthcheck(Some(h)) => words.extend(command_words(&h.test)),
            Kind::Healthcheck(None) | Kind::Onbuild(_) => {}
        }
        for w in &words {
            let _ = lex::expand(w, &vars, esc);
        }
        let _ = parser::words(&ins.original, esc);
    }
}

fn command_words(c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => vec![s.clone()],
    }
}
