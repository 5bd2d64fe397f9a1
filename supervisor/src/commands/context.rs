//! `berth context`: berth has one context, `default`, which is the manager
//! of its `--state` dir (as podman, which has no named contexts either):
//! `ls`, `show`, `inspect` and `use default` answer as docker's do, any
//! other name is docker's "context not found". No manager is needed.

use clap::{Args, Subcommand};
use serde_json::json;

use crate::paths::Dirs;

/// `berth context`.
#[derive(Debug, Args)]
pub struct ContextArgs {
    #[command(subcommand)]
    pub command: ContextCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// List contexts
    #[command(visible_alias = "list")]
    Ls {
        /// Only show context names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Format the output (json)
        #[arg(long)]
        format: Option<String>,
    },
    /// Print the name of the current context
    Show,
    /// Set the current docker context
    Use {
        /// The context's name
        name: String,
    },
    /// Display detailed information on one or more contexts
    Inspect {
        /// The contexts' names (default: the current one)
        names: Vec<String>,
    },
}

const DEFAULT: &str = "default";
const DESCRIPTION: &str = "The berth manager of the state dir";

fn not_found(name: &str) -> i32 {
    eprintln!("context \"{name}\": context not found");
    1
}

/// `berth context …`.
pub fn context(dirs: &Dirs, a: &ContextArgs) -> i32 {
    let endpoint = format!("unix://{}", dirs.socket().display());
    match &a.command {
        ContextCommand::Ls { quiet: true, .. } => println!("{DEFAULT}"),
        ContextCommand::Ls {
            format: Some(f), ..
        } if f == "json" || f == "{{json .}}" => {
            println!(
                "{}",
                json!({"Current": true, "Description": DESCRIPTION, "DockerEndpoint": endpoint, "Error": "", "Name": DEFAULT})
            );
        }
        ContextCommand::Ls {
            format: Some(f), ..
        } => {
            eprintln!("unsupported format: {f} (json)");
            return 1;
        }
        ContextCommand::Ls { .. } => {
            let rows = vec![vec![
                format!("{DEFAULT} *"),
                DESCRIPTION.to_string(),
                endpoint,
                String::new(),
            ]];
            print!(
                "{}",
                crate::format::table(&["NAME", "DESCRIPTION", "DOCKER ENDPOINT", "ERROR"], &rows)
            );
        }
        ContextCommand::Show => println!("{DEFAULT}"),
        ContextCommand::Use { name } if name == DEFAULT => {
            println!("{DEFAULT}");
            eprintln!("Current context is now \"{DEFAULT}\"");
        }
        ContextCommand::Use { name } => return not_found(name),
        ContextCommand::Inspect { names } => {
            if let Some(bad) = names.iter().find(|n| *n != DEFAULT) {
                return not_found(bad);
            }
            let one = json!({
                "Name": DEFAULT,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": endpoint, "SkipTLSVerify": false}},
                "TLSMaterial": {},
                "Storage": {"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"},
            });
            let all = vec![one; names.len().max(1)];
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        }
    }
    0
}
