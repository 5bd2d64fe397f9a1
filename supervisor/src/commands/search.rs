//! `berth search`: docker's flags checked as docker checks them, then the
//! index asked through [`crate::index`] (Docker Hub's, or the registry the
//! term names) and the results printed as docker's table or `--format`.
//! No manager is needed; an index that cannot be reached is reported as
//! such, exit 1, nothing changed.

use clap::Args;
use serde_json::{json, Value};

use crate::format::ellipsis;
use crate::index::{self, SearchFilter, SearchResult};
use crate::render::{Columns, ListFormat};

/// `berth search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (is-official, is-automated, stars)
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25, allow_hyphen_values = true)]
    pub limit: i64,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// The term to search for
    pub term: String,
}

/// `search`'s fields and headers, as docker's search context names them.
pub const SEARCH_COLUMNS: Columns = Columns {
    context: "*registry.searchContext",
    default:
        "table {{.Name}}\\t{{.Description}}\\t{{.StarCount}}\\t{{.IsOfficial}}\\t{{.IsAutomated}}",
    headers: &[
        ("Name", "NAME"),
        ("Description", "DESCRIPTION"),
        ("StarCount", "STARS"),
        ("IsOfficial", "OFFICIAL"),
        ("IsAutomated", "AUTOMATED"),
    ],
    older_errors: true,
};

/// One result as docker's formatter shows it.
fn row(r: &SearchResult, no_trunc: bool) -> Value {
    let ok = |b: bool| if b { "[OK]" } else { "" };
    let desc = r.description.replace(['\n', '\r'], " ");
    json!({
        "Name": r.name,
        "Description": if no_trunc { desc } else { ellipsis(&desc, 45) },
        "StarCount": r.star_count.to_string(),
        "IsOfficial": ok(r.is_official),
        "IsAutomated": ok(r.is_automated),
    })
}

/// `--filter` flags as pairs; one without `=` is a usage error (125).
fn filter_pairs(flags: &[String]) -> Result<Vec<(&str, &str)>, String> {
    flags
        .iter()
        .map(|f| {
            f.split_once('=').ok_or_else(|| {
                format!("invalid argument {f:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)")
            })
        })
        .collect()
}

/// `berth search`.
pub async fn search(a: &SearchArgs) -> i32 {
    let fmt = match ListFormat::from_flag(a.format.as_deref(), &SEARCH_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let pairs = match filter_pairs(&a.filter) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 125;
        }
    };
    let filter = match SearchFilter::new(pairs) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error response from daemon: {e}");
            return 1;
        }
    };
    if let Err(e) = index::check_limit(a.limit) {
        eprintln!("Error response from daemon: {e}");
        return 1;
    }
    match index::search(&a.term, a.limit, &filter).await {
        Ok(results) => {
            let rows: Vec<Value> = results.iter().map(|r| row(r, a.no_trunc)).collect();
            fmt.print(&rows, &SEARCH_COLUMNS)
        }
        Err(e) => {
            eprintln!("Error response from daemon: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_docker_shows_them() {
        let r = SearchResult {
            name: "busybox".into(),
            description: "Busybox base image with a very long description that goes on\nand on"
                .into(),
            star_count: 3000,
            is_official: true,
            is_automated: false,
        };
        let out = ListFormat::parse(None, &SEARCH_COLUMNS)
            .unwrap()
            .render(&[row(&r, false)], &SEARCH_COLUMNS)
            .unwrap();
        assert_eq!(
            out,
            "NAME      DESCRIPTION                                     STARS     OFFICIAL   AUTOMATED\n\
             busybox   Busybox base image with a very long descript…   3000      [OK]       \n"
        );
        assert_eq!(
            row(&r, true)["Description"],
            "Busybox base image with a very long description that goes on and on"
        );
        assert!(filter_pairs(&["is-automated".into()]).is_err());
    }
}
