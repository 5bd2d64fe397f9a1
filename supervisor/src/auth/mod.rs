//! `berth login` and `logout`, and the credentials pull and push send: the
//! CLI keeps them in docker's `config.json` ([`config`]) and hands them to
//! the manager with each request; the manager checks a login against the
//! registry (with the registry's CA from `certs.d`) and stores nothing.

pub mod config;

use std::io::{BufRead, Write};

use berth_proto::auth::LoginRequest;
use clap::Args;

use crate::client::Manager;

/// `berth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub)
    pub server: Option<String>,
}

/// `berth logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub)
    pub server: Option<String>,
}

/// The username and password `login` was given, or why not.
fn login_input(a: &LoginArgs) -> Result<(String, String), String> {
    if a.password.is_some() && a.password_stdin {
        return Err("--password and --password-stdin are mutually exclusive".into());
    }
    if a.password_stdin && a.username.is_none() {
        return Err("Must provide --username with --password-stdin".into());
    }
    let interactive = crate::tty::is_tty(libc::STDIN_FILENO);
    let user = match &a.username {
        Some(u) => u.clone(),
        None if interactive => prompt("Username: ")?,
        None => return Err("Cannot perform an interactive login from a non TTY device".into()),
    };
    let password = match (&a.password, a.password_stdin) {
        (Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut s)
                .map_err(|e| format!("read password from stdin: {e}"))?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) if interactive => prompt("Password: ")?,
        (None, false) => {
            return Err("Cannot perform an interactive login from a non TTY device".into())
        }
    };
    if user.is_empty() {
        return Err("Username is required".into());
    }
    if password.is_empty() {
        return Err("Password is required".into());
    }
    Ok((user, password))
}

fn prompt(what: &str) -> Result<String, String> {
    eprint!("{what}");
    let _ = std::io::stderr().flush();
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut s)
        .map_err(|e| e.to_string())?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Checks `user` and `password` against the registry `server` (empty:
/// Docker Hub) through the manager; the key the credentials are stored
/// under when they are good. `berth login` and the API's `POST /auth`.
pub async fn verify(
    m: &Manager,
    server: &str,
    user: &str,
    password: &str,
) -> Result<String, crate::error::CliError> {
    let key = config::server_key(server);
    let mut req = LoginRequest::new();
    req.server = if key == config::DOCKER_HUB {
        "registry-1.docker.io".into()
    } else {
        key.clone()
    };
    req.username = user.to_string();
    req.password = password.to_string();
    m.auth.login(m.ctx(), &req).await.map_err(|e| m.err(e))?;
    Ok(key)
}

/// `berth login`.
pub async fn login(m: &Manager, a: &LoginArgs) -> i32 {
    let (user, password) = match login_input(a) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let key = match verify(m, a.server.as_deref().unwrap_or(""), &user, &password).await {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if let Err(e) = config::store(&key, &user, &password) {
        eprintln!("Error saving credentials: {e}");
        return 1;
    }
    println!("Login Succeeded");
    0
}

/// `berth logout`.
pub fn logout(a: &LogoutArgs) -> i32 {
    let key = config::server_key(a.server.as_deref().unwrap_or(""));
    match config::erase(&key) {
        Ok(true) => {
            println!("Removing login credentials for {key}");
            0
        }
        Ok(false) => {
            println!("Not logged in to {key}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// The stored credentials for the registry of `reference` (none when
/// there are none or they cannot be read: the request goes anonymous).
pub fn for_reference(reference: &str) -> (String, String) {
    config::credentials(&config::reference_server(reference))
        .ok()
        .flatten()
        .unwrap_or_default()
}
