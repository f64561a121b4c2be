//! `sqlite-rebuild`: the library's verbs on the command line, for migrations in any
//! language. `check` validates (read-only), `plan` shows the steps, `script` renders the
//! guarded SQL, `apply` executes. Exit codes: 0 done (or every row fits), 1 rows would
//! violate the target (the report on stdout), 2 any other error (one line on stderr).

mod args;
mod json;

use args::{Children, Cli, Command, Common};
use clap::{CommandFactory, FromArgMatches};
use sqlite_rebuild::rusqlite::{Connection, OpenFlags};
use sqlite_rebuild::{ChildTables, Error, OnViolation, Phase, ScriptOptions, TableRebuild};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

/// Rows would violate the target.
const VIOLATIONS: u8 = 1;
/// Any other error.
const FAILED: u8 = 2;

/// The report names the library's rules; these are their flags.
const FLAGS_HINT: &str = "sqlite-rebuild: on the command line the rules are --remap COLUMN FROM TO, --remap-null COLUMN VALUE, --remap-to-null COLUMN FROM and --column TARGET EXPR; apply --quarantine moves the rows aside";

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let verbosity = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(verbosity))
        .target(env_logger::Target::Stderr)
        .init();
    let (_, sub) = matches.subcommand().expect("clap requires a subcommand");
    match run(&cli.command, sub) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("sqlite-rebuild: {message}");
            ExitCode::from(FAILED)
        }
    }
}

fn run(command: &Command, matches: &clap::ArgMatches) -> Result<u8, String> {
    match command {
        Command::Check { common, json } => {
            let conn = open(common, true)?;
            let report = rebuild(common, matches)?
                .validate(&conn)
                .map_err(|e| e.to_string())?;
            if *json {
                print_json(&json::validation(&report))?;
            } else {
                println!("{report}");
                if !report.is_ok() {
                    eprintln!("{FLAGS_HINT}");
                }
            }
            Ok(if report.is_ok() { 0 } else { VIOLATIONS })
        }
        Command::Plan { common, json } => {
            let conn = open(common, true)?;
            let plan = rebuild(common, matches)?
                .plan(&conn)
                .map_err(|e| e.to_string())?;
            if *json {
                print_json(&json::plan(&plan))?;
            } else {
                print!("{plan}");
            }
            Ok(0)
        }
        Command::Script {
            common,
            output,
            children,
            no_transaction,
        } => {
            let conn = open(common, true)?;
            let mut options = ScriptOptions::new().children(match children {
                Children::Copy => ChildTables::CopyClosure,
                Children::Repoint => ChildTables::Repoint,
                Children::EnforcementOff => ChildTables::EnforcementOff,
            });
            if *no_transaction {
                options = options.without_transaction();
            }
            let script = rebuild(common, matches)?
                .plan(&conn)
                .and_then(|plan| plan.to_sql_with(&options))
                .map_err(|e| e.to_string())?;
            match output {
                Some(path) => std::fs::write(path, script)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                None => print!("{script}"),
            }
            Ok(0)
        }
        Command::Apply {
            common,
            json,
            quarantine,
        } => {
            let mut conn = open(common, false)?;
            let mut rb = rebuild(common, matches)?;
            if let Some(name) = quarantine {
                rb = rb.on_violation(match name {
                    Some(name) => OnViolation::QuarantineInto(name.clone()),
                    None => OnViolation::Quarantine,
                });
            }
            let (rb, bar) = with_progress(rb);
            let outcome = rb.execute(&mut conn);
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            match outcome {
                Ok(report) => {
                    if *json {
                        print_json(&json::rebuild(&report))?;
                    } else {
                        println!("{report}");
                    }
                    Ok(0)
                }
                Err(Error::Violations(report)) => {
                    if *json {
                        print_json(&json::validation(&report))?;
                    } else {
                        println!("{report}");
                        eprintln!("{FLAGS_HINT}");
                    }
                    Ok(VIOLATIONS)
                }
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// Opens an existing database (never creates one), with the databases to attach:
/// read-only for the dry runs.
fn open(common: &Common, read_only: bool) -> Result<Connection, String> {
    let path = common.db.as_path();
    if !path.exists() {
        return Err(format!("no database file at {}", path.display()));
    }
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SQLite reads the header lazily: a file that is not a database fails here.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| format!("{} is not a usable SQLite database: {e}", path.display()))?;
    for attach in &common.attach {
        let Some((name, file)) = attach.split_once('=') else {
            return Err(format!("--attach takes NAME=FILE, not {attach:?}"));
        };
        if !std::path::Path::new(file).exists() {
            return Err(format!("no database file at {file} (--attach {name})"));
        }
        conn.execute("ATTACH ?1 AS ?2", [file, name])
            .map_err(|e| format!("cannot attach {file} as {name}: {e}"))?;
    }
    Ok(conn)
}

/// The rebuild the arguments describe: the target, the operations, then the rules, each
/// kind in the order given on the command line.
fn rebuild(common: &Common, matches: &clap::ArgMatches) -> Result<TableRebuild, String> {
    let mut rb = TableRebuild::new(&common.table).sample_size(common.sample_size);
    if let Some(schema) = &common.schema {
        rb = rb.schema(schema);
    }
    if let Some(target) = &common.target {
        let sql = if target.as_os_str() == "-" {
            let mut sql = String::new();
            std::io::stdin()
                .read_to_string(&mut sql)
                .map_err(|e| format!("cannot read the target from stdin: {e}"))?;
            sql
        } else {
            std::fs::read_to_string(target)
                .map_err(|e| format!("cannot read the target {}: {e}", target.display()))?
        };
        rb = rb.create_sql(sql.trim());
    }
    for (_, arg) in args::in_order(matches) {
        rb = arg.apply(rb);
    }
    if common.force_copy {
        rb = rb.force_copy(true);
    }
    Ok(rb)
}

/// A progress bar on a terminal, plain lines otherwise (both on stderr).
fn with_progress(rb: TableRebuild) -> (TableRebuild, Option<indicatif::ProgressBar>) {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let handle = bar.clone();
        let rb = rb.on_progress(move |p| {
            handle.set_message(p.phase().to_string());
            handle.set_length(p.total());
            handle.set_position(p.done());
        });
        (rb, Some(bar))
    } else {
        let rb = rb.on_progress(|p| {
            // Every report of the phases that count things, the copy at its own pace.
            if p.phase() != Phase::Copy || p.done() == p.total() || p.done() % 100_000 == 0 {
                eprintln!("{}: {}/{}", p.phase(), p.done(), p.total());
            }
        });
        (rb, None)
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| e.to_string())
}
