//! The `countersign` command: `demo`, `serve`, `migrate`, `user`, `token`, `check`, `audit`
//! (README).

mod audit;
mod check;
mod demo;
mod serve;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use countersign_server::config::{self, Config};
use countersign_store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Reviewed, audited, run-once edits of production data"
)]
struct Cli {
    /// Configuration file (default: ./countersign.toml if it exists)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Try Countersign: a SQLite store, a demo target with sample data and demo users, served locally
    Demo {
        /// Address to listen on
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Directory holding the demo's store, target and credentials
        #[arg(long, value_name = "DIR", default_value = "countersign-demo")]
        dir: PathBuf,
    },
    /// Serve the web pages and the API
    Serve,
    /// Bring the store's schema up to date
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(users::TokenCommand),
    /// Analyze SQL files offline, for pre-commit hooks and CI: exit 0 when nothing is above info,
    /// 1 for a warning, 2 for danger or error, 3 when an input cannot be read
    Check {
        /// SQL dialect of the files
        #[arg(
            long,
            default_value = "generic",
            value_name = "postgres|mysql|sqlite|generic"
        )]
        dialect: countersign_analyzer::Dialect,
        /// Report format
        #[arg(long, value_enum, default_value_t = check::Format::Text)]
        format: check::Format,
        /// Files to analyze; `-` (or none) reads standard input
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Export the audit trail, or verify its hash chain
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve | Command::Demo { .. }) {
        one_malloc_arena();
    }
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The variable that caps glibc's malloc arenas.
const MALLOC_ARENA_MAX: &str = "MALLOC_ARENA_MAX";

/// A server started without `MALLOC_ARENA_MAX` starts itself again (the same process, `exec`)
/// with `MALLOC_ARENA_MAX=1`. glibc otherwise keeps a malloc arena per thread, each holding on
/// to what its tokio worker once used, and the server's resident memory follows its busiest
/// past rather than its work: a run of 10,000 statements with undo peaks at 50 MiB with one
/// arena and 87 MiB without (BENCHMARKS.md), at no cost in speed on this kind of machine. Set
/// the variable yourself to choose otherwise; elsewhere than glibc it means nothing.
fn one_malloc_arena() {
    #[cfg(all(unix, target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os(MALLOC_ARENA_MAX).is_some() {
            return;
        }
        let Ok(me) = std::env::current_exe() else {
            return;
        };
        let error = std::process::Command::new(me)
            .args(std::env::args_os().skip(1))
            .env(MALLOC_ARENA_MAX, "1")
            .exec();
        // Still here: the exec failed; serve as we are.
        eprintln!("note: could not restart with {MALLOC_ARENA_MAX}=1 ({error}); serving anyway");
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            dialect,
            format,
            files,
        } => {
            let code = check::run(
                &files,
                dialect,
                format,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(3)));
        }
        Command::Demo { listen, dir } => demo::run(cli.config.as_deref(), listen, &dir).await?,
        Command::Serve => serve::run(load_config(&cli.config)?).await?,
        Command::Migrate => {
            // The whole configuration is checked here: `migrate` is the deploy step that
            // should catch a broken file before `serve` does.
            let config = load_config(&cli.config)?;
            let store = Store::connect(&config.store.url).await?;
            let count = store.migrate().await?;
            println!("store is up to date ({count} migrations)");
        }
        Command::User(cmd) => users::user(&open_store(&cli.config).await?, cmd).await?,
        Command::Token(cmd) => users::token(&open_store(&cli.config).await?, cmd).await?,
        Command::Audit(cmd) => return audit::run(&cli.config, cmd).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn load_config(path: &Option<PathBuf>) -> anyhow::Result<Config> {
    Config::load(path.as_deref(), &config::process_env).context("invalid configuration")
}

/// The store's configuration alone: commands that need only the store do not need every
/// target's secret in the environment.
fn load_store_config(path: &Option<PathBuf>) -> anyhow::Result<config::StoreConfig> {
    Config::load_store(path.as_deref(), &config::process_env).context("invalid configuration")
}

async fn open_store(path: &Option<PathBuf>) -> anyhow::Result<Store> {
    Ok(Store::open(&load_store_config(path)?.url).await?)
}

/// The store as it is, its schema untouched: for commands that only read (exports).
async fn connect_store(path: &Option<PathBuf>) -> anyhow::Result<Store> {
    Ok(Store::connect(&load_store_config(path)?.url).await?)
}

/// Logs go to standard error; `RUST_LOG` refines them.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}
