//! `depot-server`: parse the command line, load the configuration, set up
//! logging, and run the chosen command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use depot_server::config::{Config, Overrides};
use depot_server::domain::access::{self, Role};
use depot_server::{app, demo, epc, import, tls, users};

/// Depot Edge depot server: inventory ledger, handheld API, gateway and hub feed.
#[derive(Debug, Parser)]
#[command(name = "depot-server", version, about)]
struct Cli {
    /// Configuration file (default: depot.toml in the working directory, if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SQLite database file (overrides config and DEPOT_DB).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8080 (overrides config and DEPOT_LISTEN).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Run,
    /// Create a fresh demo database (articles, locations, stock, users) and serve it.
    Demo,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API users.
    #[command(subcommand)]
    User(UserCommand),
    /// Import master data from CSV; all rows or none.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Decode or encode EPCs (GS1 EPC Tag Data Standard).
    #[command(subcommand)]
    Epc(EpcCommand),
    /// Print the feed's state from the database: acknowledged seq, backlog, lag.
    Status,
    /// Recompute the ledger's hash chain from the first movement (read-only);
    /// exits 1 and names the first broken seq if a movement was changed,
    /// removed or inserted behind the server's back.
    Verify,
    /// Replace the database with the backup at PATH after checking it
    /// (SQLite, integrity, migrations, depot id, hash chain); the server must
    /// be stopped; the replaced database is kept beside it.
    Restore {
        /// The backup file to restore.
        path: PathBuf,
    },
    /// Write an online, consistent copy of the database to PATH.
    Backup {
        /// Where to write the copy; must not exist.
        path: PathBuf,
    },
    /// Certificates for the HTTPS listener.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Write a self-signed certificate and its key to tls_cert_file and
    /// tls_key_file, for a first start (replace it with one your CA signs).
    SelfSigned {
        /// A DNS name or IP address clients use to reach the depot; repeat for
        /// more. Default: this host's name, localhost, 127.0.0.1 and ::1.
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// Days the certificate is valid (1-3650).
        #[arg(long, default_value_t = 825, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; prints the new API token, and only it, on stdout.
    Add {
        name: String,
        /// staff, manager, auditor or hub.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Clear the user for restricted articles.
        #[arg(long)]
        restricted: bool,
        /// Also set a web password, read as the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// When the user's access (API token and web login) ends: a duration
        /// from now (12h, 90d, 8w), a date (2027-03-31, its start in UTC) or an
        /// RFC 3339 time. Default: never.
        #[arg(long, value_name = "DURATION|DATE|RFC3339")]
        expires: Option<String>,
    },
    /// Set a user's web password, read as the first line of standard input.
    Passwd {
        name: String,
        /// Read the password from standard input (the only way: never as an argument).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users (never their tokens): role, clearance, state, expiry, last use.
    List,
    /// Revoke a user's token.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
enum EpcCommand {
    /// One line per input: hex, scheme, tag URI, pure-identity URI and GS1 views.
    Decode {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// EPCs as hex, URIs, GS1 Digital Links or element strings.
        #[arg(required = true)]
        epcs: Vec<String>,
    },
    /// One line per input: the binary EPC as hex.
    Encode {
        /// Tag URIs (urn:epc:tag:…) or any notation `decode` takes.
        #[arg(required = true)]
        uris: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Articles: header sku,name,unit[,gtin,nsn,supply_class,classification,unit_weight_g,unit_volume_ml,lot_tracked,expiry_tracked].
    Articles { file: PathBuf },
    /// Locations: header code,zone,kind[,capacity_volume_l,capacity_weight_kg,capacity_pallets].
    Locations { file: PathBuf },
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
            eprintln!("depot-server: {error}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("depot-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Run), config)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("depot-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).map_err(|e| e.reason)
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// `epc decode|encode`: one output line per input, errors in place; exit 1 if any failed.
fn run_epc(command: EpcCommand) -> ExitCode {
    let mut failed = false;
    let mut lines = Vec::new();
    match command {
        EpcCommand::Decode { json, epcs } => {
            for input in epcs {
                lines.push(match (epc::describe(&input), json) {
                    (Ok(view), false) => view.to_line(),
                    (Ok(view), true) => serde_json::to_string(&view).unwrap_or_default(),
                    (Err(reason), false) => {
                        failed = true;
                        format!("{input}\terror: {reason}")
                    }
                    (Err(reason), true) => {
                        failed = true;
                        serde_json::json!({"input": input, "error": reason}).to_string()
                    }
                });
            }
        }
        EpcCommand::Encode { uris } => {
            for input in uris {
                lines.push(match epc::encode(&input) {
                    Ok(hex) => hex,
                    Err(reason) => {
                        failed = true;
                        format!("{input}\terror: {reason}")
                    }
                });
            }
        }
    }
    for line in lines {
        println!("{line}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `status`: the feed's durable state as a person reads it. The connection
/// itself is known only to the running server (`/healthz`, `/api/v1/uplink`).
fn status_lines(config: &Config, status: &depot_server::depot::UplinkStatus) -> Vec<String> {
    use time::format_description::well_known::Rfc3339;
    let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let feed = match config.mqtt_url.as_deref() {
        Some(url) => format!(
            "{} as depot {}",
            depot_server::config::redact_url(url),
            config.depot_id
        ),
        None => "off (no mqtt_url configured)".to_owned(),
    };
    let mut lines = vec![
        format!("feed:                  {feed}"),
        format!("last seq:              {}", status.last_seq),
        format!(
            "acknowledged up to:    seq {}{}",
            status.acked.ledger_seq,
            status
                .acked_at
                .map(|t| format!(" (saved {})", at(t)))
                .unwrap_or_default()
        ),
        format!(
            "backlog:               {} movements, {} master-data changes",
            status.backlog_movements, status.backlog_outbox
        ),
    ];
    if let Some((seq, recorded)) = status.oldest_unacked {
        let lag = time::OffsetDateTime::now_utc() - recorded;
        lines.push(format!(
            "oldest unacknowledged: seq {seq}, recorded {}, lag {:.1} s",
            at(recorded),
            lag.as_seconds_f64()
        ));
    }
    lines.push(format!(
        "connection:            GET http://{}/healthz (uplink_state) of the running server",
        config.listen
    ));
    lines
}

/// Lets the writer finish what it was given, then closes the database.
async fn close(depot: depot_server::depot::Depot, writer: depot_server::depot::Writer) {
    depot.close().await;
    drop(depot);
    writer.finished().await;
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let options = app::depot_options(&config).store;
    match command {
        Command::Epc(command) => return Ok(run_epc(command)),
        Command::Cert(CertCommand::SelfSigned { names, days, force }) => {
            let (Some(cert), Some(key)) = (config.tls_cert_file, config.tls_key_file) else {
                anyhow::bail!(
                    "say where the certificate goes first: tls_cert_file and tls_key_file \
                     in the config file, or DEPOT_TLS_CERT_FILE and DEPOT_TLS_KEY_FILE"
                );
            };
            let names = if names.is_empty() {
                tls::default_names()
            } else {
                names
            };
            let files = tls::TlsFiles { cert, key };
            let now = time::OffsetDateTime::now_utc();
            let made = tls::write_self_signed(&files, &names, now, days, force)?;
            eprintln!(
                "wrote a self-signed certificate for {} (valid {days} days) to {} and its key to {}",
                names.join(", "),
                files.cert.display(),
                files.key.display()
            );
            eprintln!("SHA-256 fingerprint: {}", made.sha256);
            eprintln!("a running server takes it on SIGHUP (systemctl reload depot-server)");
        }
        Command::Run => {
            tracing::info!(config = %config.redacted(), "starting");
            app::bind(config)
                .await?
                .serve(app::shutdown_signal())
                .await?;
        }
        Command::Demo => {
            demo::prepare(&config.db, &options).await?;
            tracing::info!(config = %config.redacted(), "starting demo");
            let bound = app::bind(config.clone()).await?;
            let demo::DemoUsers(users) = demo::seed(bound.depot()).await?;
            println!("Depot Edge demo: database {}", config.db.display());
            println!(
                "  API:      {}://{}/api/v1/  (OpenAPI: /api/v1/openapi.json)",
                bound.scheme(),
                bound.address
            );
            println!("  Health:   {}://{}/healthz", bound.scheme(), bound.address);
            println!(
                "  Web:      {}://{}/  (log in with a demo user's password)",
                bound.scheme(),
                bound.address
            );
            println!("  Demo users (API: 'Authorization: Bearer TOKEN'; web: one-time password):");
            for user in &users {
                println!(
                    "    {:<13} {:<8} {}  password {}",
                    user.name,
                    user.role.as_str(),
                    user.token,
                    user.password
                );
            }
            println!(
                "  Try: curl -H 'Authorization: Bearer {}' {}://{}/api/v1/stock",
                users.first().map(|u| u.token.as_str()).unwrap_or(""),
                bound.scheme(),
                bound.address
            );
            bound.serve(app::shutdown_signal()).await?;
        }
        Command::Migrate => {
            let (depot, writer) = app::open_depot(&config).await?;
            close(depot, writer).await;
            eprintln!("database {} is at the newest schema", config.db.display());
        }
        Command::User(command) => {
            let (depot, writer) = app::open_depot(&config).await?;
            let result = match command {
                UserCommand::Add {
                    name,
                    role,
                    restricted,
                    password_stdin,
                    expires,
                } => {
                    let now = time::OffsetDateTime::now_utc();
                    let expires_at = match expires.as_deref() {
                        Some(text) => match access::parse_expiry(text, now) {
                            Ok(at) => Some(at),
                            Err(reason) => {
                                close(depot, writer).await;
                                anyhow::bail!("--expires {reason}");
                            }
                        },
                        None => None,
                    };
                    let password = if password_stdin {
                        Some(users::password_from(std::io::stdin().lock())?)
                    } else {
                        None
                    };
                    match users::add_until(&depot, &name, role, restricted, expires_at).await {
                        Ok(token) => match &password {
                            Some(password) => users::passwd(&depot, &name, password)
                                .await
                                .map(|()| println!("{token}")),
                            None => {
                                println!("{token}");
                                Ok(())
                            }
                        },
                        Err(error) => Err(error),
                    }
                }
                UserCommand::Passwd { name, .. } => {
                    let password = users::password_from(std::io::stdin().lock())?;
                    users::passwd(&depot, &name, &password)
                        .await
                        .map(|()| eprintln!("password of {name} set"))
                }
                UserCommand::List => users::list(&depot).await.map(|lines| {
                    for line in lines {
                        println!("{line}");
                    }
                }),
                UserCommand::Revoke { name } => users::revoke(&depot, &name)
                    .await
                    .map(|()| eprintln!("revoked {name}")),
            };
            close(depot, writer).await;
            result?;
        }
        Command::Import(command) => {
            let (depot, writer) = app::open_depot(&config).await?;
            let result = match command {
                ImportCommand::Articles { file } => import::articles(&depot, &file)
                    .await
                    .map(|count| ("articles", count)),
                ImportCommand::Locations { file } => import::locations(&depot, &file)
                    .await
                    .map(|count| ("locations", count)),
            };
            close(depot, writer).await;
            let (what, count) = result?;
            eprintln!("imported {count} {what}");
        }
        Command::Status => {
            let (depot, writer) = app::open_depot(&config).await?;
            let status = depot.uplink_status().await;
            close(depot, writer).await;
            for line in status_lines(&config, &status?) {
                println!("{line}");
            }
        }
        Command::Restore { path } => {
            let restored =
                depot_server::backups::restore(&config.db, &path, &config.depot_id).await?;
            if let Some(kept) = &restored.kept {
                eprintln!("the replaced database is kept as {}", kept.display());
            }
            eprintln!(
                "restored {} from {} (ledger up to seq {}); movements booked after the backup are not in it",
                config.db.display(),
                path.display(),
                restored.last_seq
            );
            eprintln!(
                "the feed continues in epoch {} (generation {}): a hub shows the depot as restored, with the seqs it lost",
                restored.epoch.id.to_hex(),
                restored.epoch.generation
            );
        }
        Command::Verify => {
            let options = app::depot_options(&config).store;
            let result = depot_server::depot::verify_ledger(&config.db, &options)
                .await
                .with_context(|| format!("cannot read the ledger of {}", config.db.display()))?;
            match result {
                Ok(head) => println!(
                    "ledger verified: {} movements, chain head {}",
                    head.seq, head.hash
                ),
                Err(broken) => {
                    println!(
                        "ledger broken at seq {}: {}",
                        broken.seq(),
                        describe(&broken)
                    );
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Backup { path } => {
            if path.exists() {
                anyhow::bail!(
                    "{} exists; choose a new file for the backup",
                    path.display()
                );
            }
            let (depot, writer) = app::open_depot(&config).await?;
            let result = depot.backup(&path).await;
            close(depot, writer).await;
            result.with_context(|| format!("cannot write the backup to {}", path.display()))?;
            eprintln!("backup written to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A broken chain in words.
fn describe(broken: &depot_server::domain::chain::Break) -> String {
    use depot_server::domain::chain::Break;
    match broken {
        Break::Gap { expected, found } => {
            format!("seq {expected} is missing (the next movement is seq {found})")
        }
        Break::Mismatch { seq } => format!(
            "movement {seq} is not what was booked (its content or an earlier movement was changed)"
        ),
        Break::Unhashed { seq } => {
            format!("movement {seq} has no hash (it was inserted or its hash removed)")
        }
    }
}
