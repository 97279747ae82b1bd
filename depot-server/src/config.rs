//! Configuration: defaults → config file → `DEPOT_*` environment → command
//! line, then `resolve()` checks every value and names the key that is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This depot's id in topics and feeds: `[a-z0-9-]{1,32}`. Default `depot-1`.
    pub depot_id: String,
    /// The SQLite database file. Default `depot.db`.
    pub db: PathBuf,
    /// Where the HTTP server listens. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The regional hub's broker, `mqtt://host:1883` or `mqtts://host:8883`; unset = no uplink.
    pub mqtt_url: Option<String>,
    /// The gateway: `sim`, `rtu:/dev/ttyUSB0?baud=115200` or `tcp:HOST:PORT`. Default `sim`.
    pub gateway: String,
    /// How long a database statement waits for a lock, in ms (1–600000). Default 5000.
    pub busy_timeout_ms: u64,
    /// The largest accepted request body, in bytes (1024–67108864). Default 1048576.
    pub max_body_bytes: usize,
    /// Log filter (`tracing` env-filter syntax). Default `info`.
    pub log: String,
    /// The largest the database may grow, in KiB; unset = until the disk is full.
    /// Keeps room on a shared SD card: past it, bookings are refused with 503.
    pub max_db_size_kib: Option<u64>,
    /// How long a booking's Idempotency-Key is remembered, in days. Default 30.
    pub idempotency_retention_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            depot_id: "depot-1".into(),
            db: PathBuf::from("depot.db"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            mqtt_url: None,
            gateway: "sim".into(),
            busy_timeout_ms: 5_000,
            max_body_bytes: 1024 * 1024,
            log: "info".into(),
            max_db_size_kib: None,
            idempotency_retention_days: 30,
        }
    }
}

/// A configuration error that names the key and the source it came from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {key} ({source_name}): {reason}")]
pub struct ConfigError {
    pub key: String,
    pub source_name: String,
    pub reason: String,
}

fn error(key: &str, source_name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        source_name: source_name.to_owned(),
        reason: reason.into(),
    }
}

/// The keys of the config file; every one optional, unknown ones refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    depot_id: Option<String>,
    db: Option<PathBuf>,
    listen: Option<String>,
    mqtt_url: Option<String>,
    gateway: Option<String>,
    busy_timeout_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    log: Option<String>,
    max_db_size_kib: Option<u64>,
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub listen: Option<String>,
}

/// Raw values before checking, with where each came from.
#[derive(Debug, Default)]
struct Layered {
    values: std::collections::BTreeMap<&'static str, (String, String)>,
}

impl Layered {
    fn set(&mut self, key: &'static str, value: impl Into<String>, source_name: &str) {
        self.values
            .insert(key, (value.into(), source_name.to_owned()));
    }
}

/// The environment variables read, and the key each sets.
const ENV_KEYS: &[(&str, &str)] = &[
    ("DEPOT_ID", "depot_id"),
    ("DEPOT_DB", "db"),
    ("DEPOT_LISTEN", "listen"),
    ("DEPOT_MQTT_URL", "mqtt_url"),
    ("DEPOT_GATEWAY", "gateway"),
    ("DEPOT_BUSY_TIMEOUT_MS", "busy_timeout_ms"),
    ("DEPOT_MAX_BODY_BYTES", "max_body_bytes"),
    ("DEPOT_LOG", "log"),
    ("DEPOT_MAX_DB_SIZE_KIB", "max_db_size_kib"),
    ("DEPOT_CONFIG", "config"),
];

impl Config {
    /// Loads the configuration from the file (`--config`, `DEPOT_CONFIG`, or
    /// `depot.toml` in the working directory if present), the environment and
    /// the command line.
    pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut layered = Layered::default();
        let env_config = env
            .iter()
            .find(|(k, _)| k == "DEPOT_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let file = overrides.config.clone().or(env_config);
        let (path, required) = match file {
            Some(path) => (path, true),
            None => (PathBuf::from("depot.toml"), false),
        };
        if required || path.exists() {
            read_file(&path, &mut layered)?;
        }
        for (name, value) in env.iter().filter(|(k, _)| k.starts_with("DEPOT_")) {
            let Some((_, key)) = ENV_KEYS.iter().find(|(env_name, _)| env_name == name) else {
                let known: Vec<&str> = ENV_KEYS.iter().map(|(n, _)| *n).collect();
                return Err(error(
                    name,
                    "environment",
                    format!("unknown variable; known are {}", known.join(", ")),
                ));
            };
            if *key != "config" {
                layered.set(key, value.clone(), &format!("environment {name}"));
            }
        }
        if let Some(db) = &overrides.db {
            layered.set("db", db.to_string_lossy(), "--db");
        }
        if let Some(listen) = &overrides.listen {
            layered.set("listen", listen.clone(), "--listen");
        }
        resolve(layered)
    }

    /// The configuration as logged at start (no secrets: credentials in the broker URL are hidden).
    pub fn redacted(&self) -> String {
        let uplink = self
            .mqtt_url
            .as_deref()
            .map(redact_url)
            .unwrap_or_else(|| "none".into());
        format!(
            "depot_id={} db={} listen={} mqtt_url={} gateway={} busy_timeout_ms={} max_body_bytes={} max_db_size_kib={}",
            self.depot_id,
            self.db.display(),
            self.listen,
            uplink,
            self.gateway,
            self.busy_timeout_ms,
            self.max_body_bytes,
            self.max_db_size_kib.map_or_else(|| "none".to_owned(), |v| v.to_string())
        )
    }
}

/// Hides `user:password@` in a URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn read_file(path: &Path, layered: &mut Layered) -> Result<(), ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| error("config", &shown, format!("cannot read: {e}")))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| {
        let reason = e.message().to_owned();
        let key = reason
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .unwrap_or("config")
            .to_owned();
        error(&key, &shown, reason)
    })?;
    let source_name = format!("file {shown}");
    let mut set = |key: &'static str, value: Option<String>| {
        if let Some(value) = value {
            layered.set(key, value, &source_name);
        }
    };
    set("depot_id", file.depot_id);
    set("db", file.db.map(|p| p.to_string_lossy().into_owned()));
    set("listen", file.listen);
    set("mqtt_url", file.mqtt_url);
    set("gateway", file.gateway);
    set(
        "busy_timeout_ms",
        file.busy_timeout_ms.map(|v| v.to_string()),
    );
    set("max_body_bytes", file.max_body_bytes.map(|v| v.to_string()));
    set("log", file.log);
    set(
        "max_db_size_kib",
        file.max_db_size_kib.map(|v| v.to_string()),
    );
    Ok(())
}

/// Checks every value; the first bad one is named with its source.
fn resolve(layered: Layered) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    for (key, (value, source_name)) in &layered.values {
        let fail = |reason: &str| error(key, source_name, format!("'{value}': {reason}"));
        match *key {
            "depot_id" => {
                let ok = (1..=32).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err(fail("must be 1 to 32 characters of a-z, 0-9 and '-'"));
                }
                config.depot_id = value.clone();
            }
            "db" => {
                if value.is_empty() {
                    return Err(fail("must name a file"));
                }
                config.db = PathBuf::from(value);
            }
            "listen" => {
                config.listen = value
                    .parse()
                    .map_err(|_| fail("must be an address like 127.0.0.1:8080"))?
            }
            "mqtt_url" => {
                if value.is_empty() {
                    config.mqtt_url = None;
                } else if value.starts_with("mqtt://") || value.starts_with("mqtts://") {
                    config.mqtt_url = Some(value.clone());
                } else {
                    return Err(fail("must start with mqtt:// or mqtts://"));
                }
            }
            "gateway" => {
                let ok = value == "sim"
                    || value
                        .strip_prefix("rtu:")
                        .is_some_and(|rest| !rest.is_empty())
                    || value.strip_prefix("tcp:").is_some_and(|rest| {
                        rest.rsplit_once(':')
                            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                    });
                if !ok {
                    return Err(fail("must be sim, rtu:/dev/PORT?baud=N or tcp:HOST:PORT"));
                }
                config.gateway = value.clone();
            }
            "busy_timeout_ms" => {
                config.busy_timeout_ms = value
                    .parse()
                    .ok()
                    .filter(|v| (1..=600_000).contains(v))
                    .ok_or_else(|| fail("must be 1 to 600000"))?;
            }
            "max_body_bytes" => {
                config.max_body_bytes = value
                    .parse()
                    .ok()
                    .filter(|v| (1024..=64 * 1024 * 1024).contains(v))
                    .ok_or_else(|| fail("must be 1024 to 67108864"))?;
            }
            "log" => config.log = value.clone(),
            "max_db_size_kib" => {
                config.max_db_size_kib = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|v| *v >= 64)
                        .ok_or_else(|| fail("must be a whole number of KiB, at least 64"))?,
                );
            }
            _ => return Err(fail("unknown key")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_a_demo() {
        let config = Config::load(
            &Overrides {
                config: Some("/nonexistent/never".into()),
                ..Default::default()
            },
            &[],
        );
        assert_eq!(config.unwrap_err().key, "config");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(&path, "").unwrap();
        let config = Config::load(
            &Overrides {
                config: Some(path),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn file_then_env_then_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(
            &path,
            "depot_id = \"north-7\"\nlisten = \"0.0.0.0:9000\"\ndb = \"file.db\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            config: Some(path),
            db: Some("cli.db".into()),
            listen: None,
        };
        let config = Config::load(
            &overrides,
            &env(&[("DEPOT_LISTEN", "127.0.0.1:9001"), ("PATH", "/bin")]),
        )
        .unwrap();
        assert_eq!(config.depot_id, "north-7");
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.db, PathBuf::from("cli.db"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(&path, "depot_idd = \"x\"\n").unwrap();
        let err = Config::load(
            &Overrides {
                config: Some(path),
                ..Default::default()
            },
            &[],
        )
        .unwrap_err();
        assert_eq!(err.key, "depot_idd");
        let err = Config::load(
            &Overrides {
                config: Some("/dev/null".into()),
                ..Default::default()
            },
            &env(&[("DEPOT_LISTN", "x")]),
        )
        .unwrap_err();
        assert_eq!(err.key, "DEPOT_LISTN");
    }

    #[test]
    fn bad_values_name_key_and_source() {
        let load = |pairs: &[(&str, &str)]| {
            Config::load(
                &Overrides {
                    config: Some("/dev/null".into()),
                    ..Default::default()
                },
                &env(pairs),
            )
        };
        let err = load(&[("DEPOT_ID", "North")]).unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.source_name.as_str()),
            ("depot_id", "environment DEPOT_ID")
        );
        assert_eq!(
            load(&[("DEPOT_MQTT_URL", "http://x")]).unwrap_err().key,
            "mqtt_url"
        );
        assert_eq!(
            load(&[("DEPOT_GATEWAY", "tcp:host")]).unwrap_err().key,
            "gateway"
        );
        assert!(load(&[("DEPOT_GATEWAY", "tcp:10.0.0.5:502")]).is_ok());
        assert_eq!(
            load(&[("DEPOT_BUSY_TIMEOUT_MS", "0")]).unwrap_err().key,
            "busy_timeout_ms"
        );
    }

    #[test]
    fn broker_credentials_are_not_logged() {
        assert_eq!(
            redact_url("mqtts://depot:secret@hub:8883"),
            "mqtts://***@hub:8883"
        );
        assert_eq!(redact_url("mqtt://hub:1883"), "mqtt://hub:1883");
    }
}
