//! `regional-hub`: parse the command line, load the configuration, set up
//! logging, and run the chosen command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use regional_hub::app;
use regional_hub::config::{Config, Overrides};
use regional_hub::store::Store;

/// Depot Edge regional hub: the depots' feeds applied once each; stock and capacity of the region.
#[derive(Debug, Parser)]
#[command(name = "regional-hub", version, about)]
struct Cli {
    /// Configuration file (default: hub.toml in the working directory, if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database: a SQLite file or a postgres:// URL (overrides config and HUB_DB).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<String>,
    /// Listen address, e.g. 127.0.0.1:8090 (overrides config and HUB_LISTEN).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the feed and serve the API (the default).
    Run,
    /// Manage API users.
    #[command(subcommand)]
    User(UserCommand),
    /// A live region in one command: the hub on a fresh database and
    /// simulated depots (the real depot-server) publishing to HUB_MQTT_URL.
    #[cfg(feature = "demo")]
    Demo {
        /// How many depots to simulate (1-9).
        #[arg(long, default_value_t = 3)]
        depots: u8,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; prints the new API token, and only it, on stdout.
    Add {
        name: String,
        /// The role: hub (the only one the hub knows).
        #[arg(long, value_parser = ["hub"])]
        role: String,
        /// Clear the user for restricted articles.
        #[arg(long)]
        restricted: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        config: cli.config.clone(),
        db: cli.db.clone(),
        listen: cli.listen.clone(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = match Config::load(&overrides, &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("regional-hub: {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("regional-hub: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command.unwrap_or(Command::Run), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("regional-hub: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Run => {
            tracing::info!(config = %config.redacted(), "starting");
            app::run(config, shutdown_signal()).await
        }
        #[cfg(feature = "demo")]
        Command::Demo { depots } => {
            tracing::info!(config = %config.redacted(), depots, "starting demo");
            regional_hub::demo::run(config, depots, shutdown_signal()).await
        }
        Command::User(UserCommand::Add {
            name,
            role: _,
            restricted,
        }) => {
            let store = Store::open(&config.db).await?;
            let token = store
                .add_user(&name, restricted, time::OffsetDateTime::now_utc())
                .await?;
            store.close().await;
            println!("{token}");
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
