//! The lines a compose command prints on stderr as it works, in docker
//! compose's plain progress form: ` Container app-web-1  Started`.

use std::io::Write;

/// One event about a resource of `kind` (Network, Volume, Container, Image).
pub fn event(kind: &str, name: &str, what: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, " {kind} {name}  {what}");
    let _ = e.flush();
}

/// An event about a container.
pub fn container(name: &str, what: &str) {
    event("Container", name, what);
}
