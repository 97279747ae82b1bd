//! Configuration: defaults → config file → `DEPOT_*` environment → command
//! line, layered by figment; then `resolve()` checks every range and names the
//! key that is wrong and where its value came from.
//!
//! Each key is declared once, as a field of [`Config`] (its doc comment says
//! unit, range and default; [`Config::default`] holds the default). Its file
//! key is the field name, its environment variable [`env_name`] of it. This
//! module reads no process state itself: `main` hands it the environment.

use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Serialize};

/// The effective configuration. Serialising it gives the form that is logged:
/// broker credentials hidden.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// This depot's id in topics and feeds: `[a-z0-9-]{1,32}`. Default `depot-1`.
    /// Its variable is `DEPOT_ID`, not `DEPOT_DEPOT_ID`.
    pub depot_id: String,
    /// The SQLite database file. Default `depot.db`.
    pub db: PathBuf,
    /// Where the HTTP server listens. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// PEM file of the listener's certificate chain (leaf first); with
    /// `tls_key_file` the listener speaks only HTTPS. Unset = plain HTTP.
    /// Both files are read again on SIGHUP.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM file of the listener certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
    /// The regional hub's broker, `mqtt://host:1883` or `mqtts://host:8883`;
    /// unset or empty = no uplink.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub mqtt_url: Option<String>,
    /// PEM file of the CA that signed the broker's certificate; required with `mqtts://`,
    /// which verifies the broker by it (and by its host name or IP address).
    pub mqtt_ca_file: Option<PathBuf>,
    /// PEM file of the depot's client certificate for `mqtts://` (with `mqtt_key_file`).
    pub mqtt_cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (with `mqtt_cert_file`).
    pub mqtt_key_file: Option<PathBuf>,
    /// Feed messages sent and not yet acknowledged by the broker, at most (1–1000). Default 64.
    pub mqtt_inflight: u16,
    /// MQTT keep-alive in seconds (5–3600): how soon a silent broker counts as gone. Default 15.
    pub mqtt_keep_alive_s: u64,
    /// The gateway: `sim`, `off`, `rtu:/dev/ttyUSB0?baud=115200` or `tcp:HOST:PORT`.
    /// Default `sim`: the built-in simulator, on a demo database only; `off` polls nothing.
    /// The one-gateway shorthand: gateway `gateway-1`, unit id 1, polled every
    /// 100 ms, its gates mapped to the depot's `dock` locations in code order.
    /// Ignored when `[[gateways]]` lists any.
    pub gateway: String,
    /// The gateways, each a `[[gateways]]` table (file only). Empty = the
    /// `gateway` shorthand.
    pub gateways: Vec<GatewayConfig>,
    /// How often the simulated gateway passes a tag, in ms (50–3600000). Default 3000.
    pub sim_pass_interval_ms: u64,
    /// Scale plausibility: the passes through a gate within this much gateway
    /// time before a pass (itself included) count toward the weight its
    /// scale reports, in ms (0–3600000). Default 5000.
    pub gate_weight_window_ms: u32,
    /// Scale plausibility: how far the weight may differ from the passes'
    /// unit weights, in grams (0–1000000000); the larger of this and
    /// `gate_weight_tolerance_pct` applies. Default 500.
    pub gate_weight_tolerance_g: i64,
    /// Scale plausibility: how far the weight may differ, in percent of the
    /// passes' unit weights (0–1000). Default 10.
    pub gate_weight_tolerance_pct: u32,
    /// BCM GPIO number (0–27) of the RS-485 transceiver's driver-enable pin,
    /// for a UART that does not switch the transceiver itself: raised while
    /// the server sends on an RTU line. Unset = the hardware switches. Needs
    /// the `rpi` build.
    pub rs485_de_gpio: Option<u8>,
    /// A status light per dock door, each a `[[dock_lights]]` table (file
    /// only): green while a gateway serving the dock is online, red otherwise.
    /// Needs the `rpi` build.
    pub dock_lights: Vec<DockLight>,
    /// How long a database statement waits for a lock, in ms (1–600000). Default 5000.
    pub busy_timeout_ms: u64,
    /// The largest accepted request body, in bytes (1024–67108864). Default 1048576.
    pub max_body_bytes: usize,
    /// Log filter (`tracing` env-filter syntax). Default `info`.
    pub log: String,
    /// The largest the database may grow, in KiB (at least 64); unset = until the disk is full.
    /// Keeps room on a shared SD card: past it, bookings are refused with 503.
    pub max_db_size_kib: Option<u64>,
    /// How long a booking's Idempotency-Key is remembered, in days (1–3650). Default 30.
    /// A retry within it gets the first answer; a replay after it books anew.
    pub idempotency_retention_days: u32,
    /// Where scheduled backups go (best on another medium than the database);
    /// unset = no scheduled backups.
    pub backup_dir: Option<PathBuf>,
    /// Seconds between scheduled backups (1–31536000). Default 86400 (daily).
    pub backup_interval_s: u64,
    /// Scheduled backups kept in `backup_dir`; older ones are deleted (1–1000). Default 7.
    pub backup_keep: usize,
    /// `/api/` requests a second per credential (API token or session
    /// cookie), sustained (0–100000; 0 = no limit). Default 20.
    pub api_token_rate_per_s: u32,
    /// `/api/` requests per credential at once after a quiet spell (0–100000; 0 = no limit). Default 100.
    pub api_token_burst: u32,
    /// `/api/` requests a second per client address (an IPv6 client by its
    /// /64), sustained (0–100000; 0 = no limit). Default 50.
    pub api_address_rate_per_s: u32,
    /// `/api/` requests per client address at once (0–100000; 0 = no limit). Default 200.
    pub api_address_burst: u32,
    /// Login form submissions a minute per client address, sustained
    /// (0–100000; 0 = no limit). Default 10.
    pub login_rate_per_min: u32,
    /// Login form submissions per client address at once (0–100000; 0 = no limit). Default 10.
    pub login_burst: u32,
    /// How long a request may take until its answer starts, in ms (0 = no
    /// limit, else 100–3600000); past it the answer is 503. Streams (SSE)
    /// run on once started. Default 30000.
    pub request_timeout_ms: u64,
    /// Connections served at once (0 = no bound, else 1–65535); further
    /// connections wait to be accepted. Default 512.
    pub max_connections: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            depot_id: "depot-1".into(),
            db: PathBuf::from("depot.db"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert_file: None,
            tls_key_file: None,
            mqtt_url: None,
            mqtt_ca_file: None,
            mqtt_cert_file: None,
            mqtt_key_file: None,
            mqtt_inflight: 64,
            mqtt_keep_alive_s: 15,
            gateway: "sim".into(),
            gateways: Vec::new(),
            sim_pass_interval_ms: 3_000,
            gate_weight_window_ms: 5_000,
            gate_weight_tolerance_g: 500,
            gate_weight_tolerance_pct: 10,
            rs485_de_gpio: None,
            dock_lights: Vec::new(),
            busy_timeout_ms: 5_000,
            max_body_bytes: 1024 * 1024,
            log: "info".into(),
            max_db_size_kib: None,
            idempotency_retention_days: 30,
            backup_dir: None,
            backup_interval_s: 86_400,
            backup_keep: 7,
            api_token_rate_per_s: 20,
            api_token_burst: 100,
            api_address_rate_per_s: 50,
            api_address_burst: 200,
            login_rate_per_min: 10,
            login_burst: 10,
            request_timeout_ms: 30_000,
            max_connections: 512,
        }
    }
}

/// One gateway of `[[gateways]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Its name in records, metrics and the API: `[a-z0-9-]{1,32}`, unique.
    pub id: String,
    /// `rtu:/dev/ttyUSB0?baud=115200` (baud default 115200) or `tcp:HOST:PORT`.
    /// Gateways on one RTU line share its transport and are polled in turn.
    pub transport: String,
    /// Modbus unit id, 1–247. Default 1.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// Pause between polls when its ring is empty, in ms (10–60000). Default 100.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Gate index → dock location code: the first entry is gate 0.
    #[serde(default)]
    pub docks: Vec<String>,
}

/// One dock's status light of `[[dock_lights]]`: two LEDs on BCM GPIO pins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DockLight {
    /// The dock location's code, as in a gateway's `docks`.
    pub dock: String,
    /// BCM GPIO number (0–27) of the green LED.
    pub green_gpio: u8,
    /// BCM GPIO number (0–27) of the red LED.
    pub red_gpio: u8,
}

fn default_unit_id() -> u8 {
    1
}

fn default_poll_interval_ms() -> u64 {
    100
}

/// How a gateway is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Modbus RTU over a serial port.
    Rtu { path: String, baud: u32 },
    /// Modbus TCP to `host:port`.
    Tcp(String),
}

impl Transport {
    /// Parses `rtu:PATH[?baud=N]` or `tcp:HOST:PORT`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix("tcp:") {
            return match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(Transport::Tcp(rest.to_owned()))
                }
                _ => Err("tcp: needs HOST:PORT".into()),
            };
        }
        if let Some(rest) = text.strip_prefix("rtu:") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err("rtu: needs a serial port".into());
            }
            let mut baud = 115_200;
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("baud", value)) => {
                        baud = value
                            .parse()
                            .ok()
                            .filter(|b| (300..=4_000_000).contains(b))
                            .ok_or("baud must be 300 to 4000000")?;
                    }
                    _ => return Err(format!("unknown option '{pair}'; known is baud")),
                }
            }
            return Ok(Transport::Rtu {
                path: path.to_owned(),
                baud,
            });
        }
        Err("must be sim, off, rtu:/dev/PORT?baud=N or tcp:HOST:PORT".into())
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Rtu { path, baud } => write!(f, "rtu:{path}?baud={baud}"),
            Transport::Tcp(address) => write!(f, "tcp:{address}"),
        }
    }
}

/// A configuration error that names the key and the source it came from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {key} ({source_name}): {reason}")]
pub struct ConfigError {
    /// The key, or for an unknown environment variable the variable's name,
    /// or `config` when the file itself cannot be read or parsed.
    pub key: String,
    /// `file PATH`, `environment DEPOT_…`, `--db`/`--listen`, `environment` or `default`.
    pub source_name: String,
    pub reason: String,
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub listen: Option<String>,
}

/// Names the variable that chooses the config file; it is not a key.
const CONFIG_VARIABLE: &str = "DEPOT_CONFIG";
/// What the metadata of an environment layer is named; its source is the variable.
const ENVIRONMENT: &str = "environment";
/// What the metadata of a command-line layer is named; its source is the option.
const COMMAND_LINE: &str = "command line";

/// The environment variable that sets `key`.
pub fn env_name(key: &str) -> String {
    match key {
        "depot_id" => "DEPOT_ID".to_owned(),
        _ => format!("DEPOT_{}", key.to_ascii_uppercase()),
    }
}

/// The key an environment variable sets: the inverse of [`env_name`]. A name
/// that no key could have (lower case, `DEPOT_DEPOT_ID`) is kept as it is, so
/// that it is refused as unknown. `None` for variables that are not keys.
fn key_of_env(name: &str) -> Option<String> {
    let rest = name.strip_prefix("DEPOT_")?;
    if name == CONFIG_VARIABLE {
        return None;
    }
    let key = match rest {
        "ID" => "depot_id".to_owned(),
        _ => rest.to_ascii_lowercase(),
    };
    if env_name(&key) == name {
        Some(key)
    } else {
        Some(name.to_owned())
    }
}

/// One value from the environment or the command line, as a figment layer
/// whose metadata says exactly where it came from.
struct Setting {
    key: String,
    value: String,
    metadata: Metadata,
}

impl Setting {
    fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        kind: &'static str,
        origin: &str,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            metadata: Metadata::from(kind, Source::Custom(origin.to_owned())),
        }
    }
}

impl Provider for Setting {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        dict.insert(self.key.clone(), Value::from(self.value.clone()));
        Ok(Profile::Default.collect(dict))
    }
}

/// How a source is named in errors.
fn source_name(metadata: Option<&Metadata>) -> String {
    let Some(metadata) = metadata else {
        return "default".to_owned();
    };
    match (&metadata.source, metadata.name.as_ref()) {
        (Some(Source::File(path)), _) => format!("file {}", path.display()),
        (Some(Source::Custom(variable)), ENVIRONMENT) => format!("environment {variable}"),
        (Some(Source::Custom(option)), _) => option.clone(),
        _ => metadata.name.to_string(),
    }
}

/// The environment variable behind `metadata`, if it is an environment layer.
fn variable_of(metadata: Option<&Metadata>) -> Option<&str> {
    match metadata {
        Some(Metadata {
            name,
            source: Some(Source::Custom(variable)),
            ..
        }) if name == ENVIRONMENT => Some(variable),
        _ => None,
    }
}

impl Config {
    /// Loads the configuration from the file (`--config`, `DEPOT_CONFIG`, or
    /// `depot.toml` in the working directory if present), the environment and
    /// the command line.
    pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let figment = layers(overrides, env);
        let config: Config = figment
            .extract_lossy()
            .map_err(|error| from_figment(&figment, error))?;
        config.resolve().map_err(|invalid| ConfigError {
            source_name: source_name(figment.find_metadata(invalid.key)),
            key: invalid.key.to_owned(),
            reason: invalid.reason,
        })
    }

    /// The configuration as logged at start: every key, broker credentials hidden.
    pub fn redacted(&self) -> String {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else {
            // Serialising plain strings and numbers cannot fail.
            return String::new();
        };
        let fields: Vec<String> = fields
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}={text}"),
                serde_json::Value::Null => format!("{key}=none"),
                other => format!("{key}={other}"),
            })
            .collect();
        fields.join(" ")
    }

    /// Checks what the types cannot: ranges and shapes. The first bad key is named.
    fn resolve(mut self) -> Result<Config, Invalid> {
        let id_ok = (1..=32).contains(&self.depot_id.len())
            && self
                .depot_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(Invalid::new(
                "depot_id",
                &self.depot_id,
                "must be 1 to 32 characters of a-z, 0-9 and '-'",
            ));
        }
        if self.db.as_os_str().is_empty() {
            return Err(Invalid::new("db", "", "must name a file"));
        }
        self.mqtt_url = self.mqtt_url.filter(|url| !url.is_empty());
        if let Some(url) = &self.mqtt_url {
            if !(url.starts_with("mqtt://") || url.starts_with("mqtts://")) {
                return Err(Invalid::new(
                    "mqtt_url",
                    url,
                    "must start with mqtt:// or mqtts://",
                ));
            }
        }
        self.check_tls_files()?;
        self.check_listener_tls()?;
        in_range(
            "mqtt_inflight",
            self.mqtt_inflight,
            1..=1000,
            "must be 1 to 1000",
        )?;
        in_range(
            "mqtt_keep_alive_s",
            self.mqtt_keep_alive_s,
            5..=3600,
            "must be 5 to 3600",
        )?;
        if !matches!(self.gateway.as_str(), "sim" | "off") {
            Transport::parse(&self.gateway)
                .map_err(|reason| Invalid::new("gateway", &self.gateway, &reason))?;
        }
        let mut ids = std::collections::HashSet::new();
        for gateway in &self.gateways {
            let id_ok = (1..=32).contains(&gateway.id.len())
                && gateway
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok || !ids.insert(gateway.id.as_str()) {
                return Err(Invalid::new(
                    "gateways",
                    &gateway.id,
                    "id must be 1 to 32 characters of a-z, 0-9 and '-', and unique",
                ));
            }
            Transport::parse(&gateway.transport).map_err(|reason| {
                Invalid::new(
                    "gateways",
                    &gateway.transport,
                    &format!("{}: transport {reason}", gateway.id),
                )
            })?;
            in_range(
                "gateways",
                gateway.unit_id,
                1..=247,
                &format!("{}: unit_id must be 1 to 247", gateway.id),
            )?;
            in_range(
                "gateways",
                gateway.poll_interval_ms,
                10..=60_000,
                &format!("{}: poll_interval_ms must be 10 to 60000", gateway.id),
            )?;
        }
        self.backup_dir = self.backup_dir.filter(|dir| !dir.as_os_str().is_empty());
        in_range(
            "backup_interval_s",
            self.backup_interval_s,
            1..=31_536_000,
            "must be 1 to 31536000",
        )?;
        in_range(
            "backup_keep",
            self.backup_keep,
            1..=1000,
            "must be 1 to 1000",
        )?;
        self.check_gpio()?;
        in_range(
            "sim_pass_interval_ms",
            self.sim_pass_interval_ms,
            50..=3_600_000,
            "must be 50 to 3600000",
        )?;
        in_range(
            "gate_weight_window_ms",
            self.gate_weight_window_ms,
            0..=3_600_000,
            "must be 0 to 3600000",
        )?;
        in_range(
            "gate_weight_tolerance_g",
            self.gate_weight_tolerance_g,
            0..=1_000_000_000,
            "must be 0 to 1000000000",
        )?;
        in_range(
            "gate_weight_tolerance_pct",
            self.gate_weight_tolerance_pct,
            0..=1_000,
            "must be 0 to 1000",
        )?;
        in_range(
            "busy_timeout_ms",
            self.busy_timeout_ms,
            1..=600_000,
            "must be 1 to 600000",
        )?;
        in_range(
            "max_body_bytes",
            self.max_body_bytes,
            1024..=64 * 1024 * 1024,
            "must be 1024 to 67108864",
        )?;
        if let Some(kib) = self.max_db_size_kib {
            in_range(
                "max_db_size_kib",
                kib,
                64..=u64::MAX,
                "must be a whole number of KiB, at least 64",
            )?;
        }
        in_range(
            "idempotency_retention_days",
            self.idempotency_retention_days,
            1..=3650,
            "must be 1 to 3650",
        )?;
        self.check_abuse_limits()?;
        Ok(self)
    }
}

impl Config {
    /// Rate limits, the request timeout and the connection bound.
    fn check_abuse_limits(&self) -> Result<(), Invalid> {
        for (key, value) in [
            ("api_token_rate_per_s", self.api_token_rate_per_s),
            ("api_token_burst", self.api_token_burst),
            ("api_address_rate_per_s", self.api_address_rate_per_s),
            ("api_address_burst", self.api_address_burst),
            ("login_rate_per_min", self.login_rate_per_min),
            ("login_burst", self.login_burst),
        ] {
            in_range(key, value, 0..=100_000, "must be 0 (no limit) to 100000")?;
        }
        if self.request_timeout_ms != 0 {
            in_range(
                "request_timeout_ms",
                self.request_timeout_ms,
                100..=3_600_000,
                "must be 0 (no limit) or 100 to 3600000",
            )?;
        }
        in_range(
            "max_connections",
            self.max_connections,
            0..=65_535,
            "must be 0 (no bound) to 65535",
        )
    }

    /// GPIO pins: BCM 0–27, each used once.
    fn check_gpio(&self) -> Result<(), Invalid> {
        let mut used = std::collections::HashSet::new();
        let mut claim = |key: &'static str, pin: u8| {
            if pin > 27 {
                Err(Invalid::new(key, pin, "a BCM GPIO number is 0 to 27"))
            } else if !used.insert(pin) {
                Err(Invalid::new(key, pin, "GPIO used twice"))
            } else {
                Ok(())
            }
        };
        if let Some(pin) = self.rs485_de_gpio {
            claim("rs485_de_gpio", pin)?;
        }
        for light in &self.dock_lights {
            claim("dock_lights", light.green_gpio)?;
            claim("dock_lights", light.red_gpio)?;
        }
        Ok(())
    }

    /// The listener's certificate and key: both or neither.
    fn check_listener_tls(&mut self) -> Result<(), Invalid> {
        let set = |path: Option<PathBuf>| path.filter(|p| !p.as_os_str().is_empty());
        self.tls_cert_file = set(self.tls_cert_file.take());
        self.tls_key_file = set(self.tls_key_file.take());
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(path), None) => Err(Invalid::new(
                "tls_cert_file",
                path.display(),
                "needs tls_key_file too",
            )),
            (None, Some(path)) => Err(Invalid::new(
                "tls_key_file",
                path.display(),
                "needs tls_cert_file too",
            )),
            _ => Ok(()),
        }
    }

    /// The TLS files: required or refused by the URL's scheme, cert and key together.
    fn check_tls_files(&mut self) -> Result<(), Invalid> {
        let set = |path: Option<PathBuf>| path.filter(|p| !p.as_os_str().is_empty());
        self.mqtt_ca_file = set(self.mqtt_ca_file.take());
        self.mqtt_cert_file = set(self.mqtt_cert_file.take());
        self.mqtt_key_file = set(self.mqtt_key_file.take());
        let tls = self
            .mqtt_url
            .as_deref()
            .is_some_and(|url| url.starts_with("mqtts://"));
        if tls && self.mqtt_ca_file.is_none() {
            return Err(Invalid::new(
                "mqtt_ca_file",
                "",
                "is required with mqtts://: the CA that signed the broker's certificate",
            ));
        }
        let files = [
            ("mqtt_ca_file", &self.mqtt_ca_file),
            ("mqtt_cert_file", &self.mqtt_cert_file),
            ("mqtt_key_file", &self.mqtt_key_file),
        ];
        for (key, file) in files {
            if let (false, Some(path)) = (tls, file) {
                return Err(Invalid::new(
                    key,
                    path.display(),
                    "applies only to an mqtts:// mqtt_url",
                ));
            }
        }
        match (&self.mqtt_cert_file, &self.mqtt_key_file) {
            (Some(path), None) => Err(Invalid::new(
                "mqtt_cert_file",
                path.display(),
                "needs mqtt_key_file too",
            )),
            (None, Some(path)) => Err(Invalid::new(
                "mqtt_key_file",
                path.display(),
                "needs mqtt_cert_file too",
            )),
            _ => Ok(()),
        }
    }
}

/// The layers, lowest first: the file, each `DEPOT_*` variable, each option.
/// The defaults are `Config::default()` through `#[serde(default)]`.
fn layers(overrides: &Overrides, env: &[(String, String)]) -> Figment {
    let env_config = env
        .iter()
        .find(|(name, _)| name == CONFIG_VARIABLE)
        .map(|(_, path)| PathBuf::from(path));
    let mut figment = Figment::new();
    match overrides.config.clone().or(env_config) {
        // A named file must exist; reading it fails otherwise.
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        None if Path::new("depot.toml").exists() => {
            figment = figment.merge(Toml::file_exact("depot.toml"));
        }
        None => {}
    }
    for (name, value) in env {
        if let Some(key) = key_of_env(name) {
            figment = figment.merge(Setting::new(key, value.as_str(), ENVIRONMENT, name));
        }
    }
    if let Some(db) = &overrides.db {
        figment = figment.merge(Setting::new(
            "db",
            db.to_string_lossy(),
            COMMAND_LINE,
            "--db",
        ));
    }
    if let Some(listen) = &overrides.listen {
        figment = figment.merge(Setting::new(
            "listen",
            listen.as_str(),
            COMMAND_LINE,
            "--listen",
        ));
    }
    figment
}

/// A figment error (unreadable file, unknown key, value of the wrong type) as
/// a `ConfigError` that names the key and its source.
fn from_figment(figment: &Figment, error: figment::Error) -> ConfigError {
    let metadata = error.metadata.as_ref();
    if let figment::error::Kind::UnknownField(field, known) = &error.kind {
        return match variable_of(metadata) {
            Some(variable) => ConfigError {
                key: variable.to_owned(),
                source_name: ENVIRONMENT.to_owned(),
                reason: format!(
                    "unknown variable; known are {}, {CONFIG_VARIABLE}",
                    known
                        .iter()
                        .map(|k| env_name(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            None => ConfigError {
                key: field.clone(),
                source_name: source_name(metadata),
                reason: format!("unknown key; known are {}", known.join(", ")),
            },
        };
    }
    let key = error.path.join(".");
    if key.is_empty() {
        return ConfigError {
            key: "config".to_owned(),
            source_name: source_name(metadata),
            reason: format!("cannot read or parse: {}", error.kind),
        };
    }
    let shown = match figment.find_value(&key) {
        Ok(Value::String(_, text)) => format!("'{text}': "),
        Ok(value) => serde_json::to_string(&value)
            .map(|json| format!("'{json}': "))
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    ConfigError {
        reason: format!("{shown}{}", error.kind),
        source_name: source_name(metadata),
        key,
    }
}

/// A value out of range, before its source is looked up.
#[derive(Debug)]
struct Invalid {
    key: &'static str,
    reason: String,
}

impl Invalid {
    fn new(key: &'static str, value: impl Display, reason: &str) -> Self {
        Self {
            key,
            reason: format!("'{value}': {reason}"),
        }
    }
}

fn in_range<T: PartialOrd + Display>(
    key: &'static str,
    value: T,
    range: RangeInclusive<T>,
    reason: &str,
) -> Result<(), Invalid> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(key, value, reason))
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

fn serialize_redacted_url<S: serde::Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    url.as_deref().map(redact_url).serialize(serializer)
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

    /// Loads with `text` as the config file, `pairs` as the environment and `cli` as options.
    fn load_with(
        text: &str,
        pairs: &[(&str, &str)],
        cli: Overrides,
    ) -> (Result<Config, ConfigError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(&path, text).unwrap();
        let overrides = Overrides {
            config: Some(path),
            ..cli
        };
        (Config::load(&overrides, &env(pairs)), dir)
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_with("", pairs, Overrides::default()).0
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
        let err = config.unwrap_err();
        assert_eq!(err.key, "config");
        assert_eq!(err.source_name, "file /nonexistent/never");
        let (config, _dir) = load_with("", &[], Overrides::default());
        assert_eq!(config.unwrap(), Config::default());
    }

    #[test]
    fn file_then_env_then_command_line() {
        let (config, _dir) = load_with(
            "depot_id = \"north-7\"\nlisten = \"0.0.0.0:9000\"\ndb = \"file.db\"\nbusy_timeout_ms = 700\n",
            &[
                ("DEPOT_LISTEN", "127.0.0.1:9001"),
                ("DEPOT_BUSY_TIMEOUT_MS", "800"),
                ("PATH", "/bin"),
            ],
            Overrides {
                db: Some("cli.db".into()),
                ..Default::default()
            },
        );
        let config = config.unwrap();
        assert_eq!(config.depot_id, "north-7", "file over default");
        assert_eq!(config.listen.port(), 9001, "environment over file");
        assert_eq!(config.busy_timeout_ms, 800, "environment over file");
        assert_eq!(config.db, PathBuf::from("cli.db"), "command line over file");
        assert_eq!(config.gateway, "sim", "default where nothing is set");
        assert_eq!(config.sim_pass_interval_ms, 3_000);
        assert_eq!(
            (
                config.gate_weight_window_ms,
                config.gate_weight_tolerance_g,
                config.gate_weight_tolerance_pct
            ),
            (5_000, 500, 10)
        );

        let (config, _dir) = load_with(
            "",
            &[
                ("DEPOT_GATEWAY", "off"),
                ("DEPOT_SIM_PASS_INTERVAL_MS", "250"),
            ],
            Overrides::default(),
        );
        let config = config.unwrap();
        assert_eq!(
            (config.gateway.as_str(), config.sim_pass_interval_ms),
            ("off", 250)
        );

        let (config, _dir) = load_with(
            "listen = \"0.0.0.0:9000\"\n",
            &[("DEPOT_LISTEN", "127.0.0.1:9001"), ("DEPOT_DB", "env.db")],
            Overrides {
                listen: Some("127.0.0.1:9002".into()),
                ..Default::default()
            },
        );
        let config = config.unwrap();
        assert_eq!(config.listen.port(), 9002, "command line over environment");
        assert_eq!(
            config.db,
            PathBuf::from("env.db"),
            "environment over default"
        );
    }

    #[test]
    fn depot_config_names_the_file_and_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("elsewhere.toml");
        std::fs::write(&path, "depot_id = \"south-2\"\n").unwrap();
        let config = Config::load(
            &Overrides::default(),
            &env(&[("DEPOT_CONFIG", path.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(config.depot_id, "south-2");
        // --config wins over DEPOT_CONFIG.
        let err = Config::load(
            &Overrides {
                config: Some("/nonexistent/never".into()),
                ..Default::default()
            },
            &env(&[("DEPOT_CONFIG", path.to_str().unwrap())]),
        )
        .unwrap_err();
        assert_eq!(err.key, "config");
        // `config` is no key of the file.
        let (err, _dir) = load_with("config = \"x.toml\"\n", &[], Overrides::default());
        assert_eq!(err.unwrap_err().key, "config");
    }

    #[test]
    fn unknown_keys_are_named_with_their_source() {
        let (err, dir) = load_with("depot_idd = \"x\"\n", &[], Overrides::default());
        let err = err.unwrap_err();
        assert_eq!(err.key, "depot_idd");
        assert_eq!(
            err.source_name,
            format!("file {}", dir.path().join("depot.toml").display())
        );
        assert!(err.reason.contains("depot_id"), "{err}");

        let (err, _dir) = load_with("[server]\nlisten = \"x\"\n", &[], Overrides::default());
        assert_eq!(err.unwrap_err().key, "server");

        let err = load_env(&[("DEPOT_LISTN", "x")]).unwrap_err();
        assert_eq!(err.key, "DEPOT_LISTN");
        assert_eq!(err.source_name, "environment");
        assert!(err.reason.contains("DEPOT_LISTEN"), "{err}");
        assert!(err.reason.contains("DEPOT_ID,"), "{err}");
        assert!(
            err.reason.contains("DEPOT_IDEMPOTENCY_RETENTION_DAYS"),
            "{err}"
        );
        // The variable of `depot_id` is DEPOT_ID only; names no key has are unknown.
        assert_eq!(
            load_env(&[("DEPOT_DEPOT_ID", "x")]).unwrap_err().key,
            "DEPOT_DEPOT_ID"
        );
        assert_eq!(
            load_env(&[("DEPOT_listen", "x")]).unwrap_err().key,
            "DEPOT_listen"
        );
        assert!(load_env(&[("DEPOTS", "x"), ("HOME", "/root")]).is_ok());
    }

    #[test]
    fn a_file_that_is_not_toml_is_named() {
        let (err, dir) = load_with("listen = \n", &[], Overrides::default());
        let err = err.unwrap_err();
        assert_eq!(err.key, "config");
        assert_eq!(
            err.source_name,
            format!("file {}", dir.path().join("depot.toml").display())
        );
    }

    #[test]
    fn bad_values_name_key_and_source() {
        let cases: &[(&str, &str, &str)] = &[
            ("DEPOT_ID", "North", "depot_id"),
            ("DEPOT_ID", "", "depot_id"),
            ("DEPOT_ID", "a-very-long-depot-identifier-of-33", "depot_id"),
            ("DEPOT_DB", "", "db"),
            ("DEPOT_LISTEN", "nowhere", "listen"),
            ("DEPOT_MQTT_URL", "http://x", "mqtt_url"),
            ("DEPOT_MQTT_INFLIGHT", "0", "mqtt_inflight"),
            ("DEPOT_MQTT_INFLIGHT", "1001", "mqtt_inflight"),
            ("DEPOT_MQTT_KEEP_ALIVE_S", "4", "mqtt_keep_alive_s"),
            ("DEPOT_MQTT_CA_FILE", "/ca.pem", "mqtt_ca_file"),
            ("DEPOT_GATEWAY", "tcp:host", "gateway"),
            ("DEPOT_GATEWAY", "rtu:", "gateway"),
            ("DEPOT_GATEWAY", "modbus", "gateway"),
            ("DEPOT_SIM_PASS_INTERVAL_MS", "49", "sim_pass_interval_ms"),
            (
                "DEPOT_SIM_PASS_INTERVAL_MS",
                "3600001",
                "sim_pass_interval_ms",
            ),
            ("DEPOT_BUSY_TIMEOUT_MS", "0", "busy_timeout_ms"),
            ("DEPOT_BUSY_TIMEOUT_MS", "600001", "busy_timeout_ms"),
            ("DEPOT_BUSY_TIMEOUT_MS", "soon", "busy_timeout_ms"),
            ("DEPOT_BUSY_TIMEOUT_MS", "-1", "busy_timeout_ms"),
            ("DEPOT_MAX_BODY_BYTES", "1023", "max_body_bytes"),
            ("DEPOT_MAX_BODY_BYTES", "67108865", "max_body_bytes"),
            ("DEPOT_MAX_DB_SIZE_KIB", "63", "max_db_size_kib"),
            (
                "DEPOT_GATE_WEIGHT_WINDOW_MS",
                "3600001",
                "gate_weight_window_ms",
            ),
            (
                "DEPOT_GATE_WEIGHT_TOLERANCE_G",
                "-1",
                "gate_weight_tolerance_g",
            ),
            (
                "DEPOT_GATE_WEIGHT_TOLERANCE_PCT",
                "1001",
                "gate_weight_tolerance_pct",
            ),
            ("DEPOT_MAX_DB_SIZE_KIB", "", "max_db_size_kib"),
            (
                "DEPOT_IDEMPOTENCY_RETENTION_DAYS",
                "0",
                "idempotency_retention_days",
            ),
            (
                "DEPOT_IDEMPOTENCY_RETENTION_DAYS",
                "3651",
                "idempotency_retention_days",
            ),
            (
                "DEPOT_IDEMPOTENCY_RETENTION_DAYS",
                "1.5",
                "idempotency_retention_days",
            ),
        ];
        for (variable, value, key) in cases {
            let err = load_env(&[(variable, value)]).unwrap_err();
            assert_eq!(
                (err.key.as_str(), err.source_name.as_str()),
                (*key, format!("environment {variable}").as_str()),
                "{variable}={value}: {err}"
            );
            assert!(err.reason.contains(&format!("'{value}'")), "{err}");
        }
        let err = load_env(&[("DEPOT_BUSY_TIMEOUT_MS", "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration: busy_timeout_ms (environment DEPOT_BUSY_TIMEOUT_MS): '0': must be 1 to 600000"
        );

        let good: &[(&str, &str)] = &[
            ("DEPOT_GATEWAY", "tcp:10.0.0.5:502"),
            ("DEPOT_GATEWAY", "rtu:/dev/ttyUSB0?baud=115200"),
            ("DEPOT_BUSY_TIMEOUT_MS", "600000"),
            ("DEPOT_MAX_BODY_BYTES", "1024"),
            ("DEPOT_MAX_DB_SIZE_KIB", "64"),
            ("DEPOT_ID", "123"),
        ];
        for (variable, value) in good {
            assert!(load_env(&[(variable, value)]).is_ok(), "{variable}={value}");
        }
        assert_eq!(
            load_env(&[("DEPOT_MQTT_URL", "")]).unwrap().mqtt_url,
            None,
            "empty means no uplink"
        );
    }

    #[test]
    fn bad_values_in_the_file_and_on_the_command_line() {
        let (err, dir) = load_with("max_body_bytes = 10\n", &[], Overrides::default());
        let err = err.unwrap_err();
        assert_eq!(err.key, "max_body_bytes");
        assert_eq!(
            err.source_name,
            format!("file {}", dir.path().join("depot.toml").display())
        );
        assert!(
            err.reason.ends_with("'10': must be 1024 to 67108864"),
            "{err}"
        );

        let (err, _dir) = load_with("busy_timeout_ms = \"soon\"\n", &[], Overrides::default());
        assert_eq!(err.unwrap_err().key, "busy_timeout_ms");
        let (err, _dir) = load_with("depot_id = 7\n", &[], Overrides::default());
        assert_eq!(err.unwrap_err().key, "depot_id");

        // Only the value that wins is checked: a later layer may correct an earlier one.
        let (config, _dir) = load_with(
            "busy_timeout_ms = 0\n",
            &[("DEPOT_BUSY_TIMEOUT_MS", "10")],
            Overrides::default(),
        );
        assert_eq!(config.unwrap().busy_timeout_ms, 10);

        let (err, _dir) = load_with(
            "",
            &[],
            Overrides {
                listen: Some("8080".into()),
                ..Default::default()
            },
        );
        let err = err.unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.source_name.as_str()),
            ("listen", "--listen")
        );
        let (err, _dir) = load_with(
            "",
            &[],
            Overrides {
                db: Some("".into()),
                ..Default::default()
            },
        );
        let err = err.unwrap_err();
        assert_eq!((err.key.as_str(), err.source_name.as_str()), ("db", "--db"));
    }

    #[test]
    fn abuse_limits_from_each_source_and_zero_turns_them_off() {
        let defaults = Config::default();
        assert_eq!(
            (defaults.api_token_rate_per_s, defaults.api_token_burst),
            (20, 100)
        );
        assert_eq!(defaults.request_timeout_ms, 30_000);
        assert_eq!(defaults.max_connections, 512);
        let (config, _dir) = load_with(
            "api_token_rate_per_s = 5\nlogin_burst = 3\nmax_connections = 8\n",
            &[
                ("DEPOT_API_TOKEN_RATE_PER_S", "0"),
                ("DEPOT_REQUEST_TIMEOUT_MS", "0"),
                ("DEPOT_API_ADDRESS_BURST", "7"),
            ],
            Overrides::default(),
        );
        let config = config.unwrap();
        assert_eq!(config.api_token_rate_per_s, 0);
        assert_eq!(config.login_burst, 3);
        assert_eq!(config.max_connections, 8);
        assert_eq!(config.request_timeout_ms, 0);
        assert_eq!(config.api_address_burst, 7);
        let err = load_env(&[("DEPOT_REQUEST_TIMEOUT_MS", "50")]).unwrap_err();
        assert_eq!(err.key, "request_timeout_ms");
        assert_eq!(err.source_name, "environment DEPOT_REQUEST_TIMEOUT_MS");
        let (err, _dir) = load_with("login_rate_per_min = 100001\n", &[], Overrides::default());
        assert_eq!(err.unwrap_err().key, "login_rate_per_min");
        let err = load_env(&[("DEPOT_MAX_CONNECTIONS", "70000")]).unwrap_err();
        assert_eq!(err.key, "max_connections");
    }

    #[test]
    fn idempotency_retention_days_from_each_source() {
        assert_eq!(Config::default().idempotency_retention_days, 30);
        let (config, _dir) = load_with(
            "idempotency_retention_days = 7\n",
            &[],
            Overrides::default(),
        );
        assert_eq!(config.unwrap().idempotency_retention_days, 7);
        let (config, _dir) = load_with(
            "idempotency_retention_days = 7\n",
            &[("DEPOT_IDEMPOTENCY_RETENTION_DAYS", "3650")],
            Overrides::default(),
        );
        assert_eq!(config.unwrap().idempotency_retention_days, 3650);
        let (err, _dir) = load_with(
            "idempotency_retention_days = 0\n",
            &[],
            Overrides::default(),
        );
        let err = err.unwrap_err();
        assert_eq!(err.key, "idempotency_retention_days");
        assert!(err.reason.ends_with("'0': must be 1 to 3650"), "{err}");
    }

    #[test]
    fn gateways_come_from_the_file_with_defaults_and_checks() {
        let (config, _dir) = load_with(
            "[[gateways]]\nid = \"north\"\ntransport = \"rtu:/dev/ttyUSB0?baud=57600\"\ndocks = [\"DOCK-1\", \"DOCK-2\"]\n\n[[gateways]]\nid = \"south\"\ntransport = \"tcp:10.0.0.9:502\"\nunit_id = 7\npoll_interval_ms = 50\n",
            &[],
            Overrides::default(),
        );
        let config = config.unwrap();
        assert_eq!(config.gateways.len(), 2);
        assert_eq!(
            (
                config.gateways[0].unit_id,
                config.gateways[0].poll_interval_ms
            ),
            (1, 100)
        );
        assert_eq!(config.gateways[0].docks, ["DOCK-1", "DOCK-2"]);
        assert_eq!(
            Transport::parse(&config.gateways[0].transport),
            Ok(Transport::Rtu {
                path: "/dev/ttyUSB0".into(),
                baud: 57_600
            })
        );
        assert_eq!(
            (
                config.gateways[1].unit_id,
                config.gateways[1].poll_interval_ms
            ),
            (7, 50)
        );
        for (text, reason) in [
            ("id = \"Nord\"\ntransport = \"tcp:h:1\"", "id must be"),
            (
                "id = \"a\"\ntransport = \"udp:h:1\"",
                "a: transport must be",
            ),
            (
                "id = \"a\"\ntransport = \"rtu:/dev/x?parity=odd\"",
                "unknown option",
            ),
            (
                "id = \"a\"\ntransport = \"rtu:/dev/x?baud=12\"",
                "baud must be",
            ),
            (
                "id = \"a\"\ntransport = \"tcp:h:1\"\nunit_id = 0",
                "unit_id must be",
            ),
            (
                "id = \"a\"\ntransport = \"tcp:h:1\"\npoll_interval_ms = 1",
                "poll_interval_ms",
            ),
        ] {
            let (err, _dir) = load_with(
                &format!("[[gateways]]\n{text}\n"),
                &[],
                Overrides::default(),
            );
            let err = err.unwrap_err();
            assert_eq!(err.key, "gateways", "{text}: {err}");
            assert!(err.reason.contains(reason), "{text}: {err}");
        }
        let (err, _dir) = load_with(
            "[[gateways]]\nid = \"a\"\ntransport = \"tcp:h:1\"\n[[gateways]]\nid = \"a\"\ntransport = \"tcp:h:2\"\n",
            &[],
            Overrides::default(),
        );
        assert!(err.unwrap_err().reason.contains("unique"));
        let (err, _dir) = load_with(
            "[[gateways]]\nid = \"a\"\ntransport = \"tcp:h:1\"\nport = 5\n",
            &[],
            Overrides::default(),
        );
        assert_eq!(err.unwrap_err().key, "port");
    }

    #[test]
    fn tls_files_go_with_mqtts() {
        let tls = [("DEPOT_MQTT_URL", "mqtts://hub:8883")];
        assert_eq!(load_env(&tls).unwrap_err().key, "mqtt_ca_file");
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = tls.to_vec();
            pairs.extend_from_slice(extra);
            load_env(&pairs)
        };
        let ok = with(&[
            ("DEPOT_MQTT_CA_FILE", "/ca.pem"),
            ("DEPOT_MQTT_CERT_FILE", "/depot.pem"),
            ("DEPOT_MQTT_KEY_FILE", "/depot.key"),
        ])
        .unwrap();
        assert_eq!(ok.mqtt_key_file, Some(PathBuf::from("/depot.key")));
        assert!(with(&[("DEPOT_MQTT_CA_FILE", "/ca.pem")]).is_ok());
        let err = with(&[
            ("DEPOT_MQTT_CA_FILE", "/ca.pem"),
            ("DEPOT_MQTT_CERT_FILE", "/depot.pem"),
        ])
        .unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.source_name.as_str()),
            ("mqtt_cert_file", "environment DEPOT_MQTT_CERT_FILE")
        );
        let err = load_env(&[
            ("DEPOT_MQTT_URL", "mqtt://hub:1883"),
            ("DEPOT_MQTT_KEY_FILE", "/depot.key"),
        ])
        .unwrap_err();
        assert_eq!(err.key, "mqtt_key_file");
    }

    #[test]
    fn gpio_pins_are_bcm_numbers_used_once() {
        let (config, _dir) = load_with(
            "rs485_de_gpio = 18\n[[dock_lights]]\ndock = \"DOCK-1\"\ngreen_gpio = 17\nred_gpio = 27\n",
            &[],
            Overrides::default(),
        );
        let config = config.unwrap();
        assert_eq!(config.rs485_de_gpio, Some(18));
        assert_eq!(config.dock_lights[0].red_gpio, 27);
        let err = load_env(&[("DEPOT_RS485_DE_GPIO", "28")]).unwrap_err();
        assert_eq!(err.key, "rs485_de_gpio");
        let (err, _dir) = load_with(
            "rs485_de_gpio = 17\n[[dock_lights]]\ndock = \"DOCK-1\"\ngreen_gpio = 17\nred_gpio = 27\n",
            &[],
            Overrides::default(),
        );
        let err = err.unwrap_err();
        assert_eq!(err.key, "dock_lights");
        assert!(err.reason.contains("used twice"), "{err}");
    }

    #[test]
    fn listener_tls_is_off_by_default_and_needs_both_files() {
        assert_eq!(load_env(&[]).unwrap().tls_cert_file, None);
        let (config, _dir) = load_with(
            "tls_cert_file = \"/etc/depot-edge/tls/cert.pem\"\ntls_key_file = \"/k.pem\"\n",
            &[("DEPOT_TLS_KEY_FILE", "/etc/depot-edge/tls/key.pem")],
            Overrides::default(),
        );
        let config = config.unwrap();
        assert_eq!(
            (config.tls_cert_file, config.tls_key_file),
            (
                Some(PathBuf::from("/etc/depot-edge/tls/cert.pem")),
                Some(PathBuf::from("/etc/depot-edge/tls/key.pem"))
            ),
            "file, then environment"
        );
        let err = load_env(&[("DEPOT_TLS_CERT_FILE", "/c.pem")]).unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.source_name.as_str()),
            ("tls_cert_file", "environment DEPOT_TLS_CERT_FILE")
        );
        assert!(err.reason.contains("needs tls_key_file"), "{err}");
        let err = load_env(&[("DEPOT_TLS_KEY_FILE", "/k.pem")]).unwrap_err();
        assert_eq!(err.key, "tls_key_file");
        let off = load_env(&[("DEPOT_TLS_CERT_FILE", ""), ("DEPOT_TLS_KEY_FILE", "")]).unwrap();
        assert_eq!((off.tls_cert_file, off.tls_key_file), (None, None));
    }

    #[test]
    fn broker_credentials_are_not_logged() {
        assert_eq!(
            redact_url("mqtts://depot:secret@hub:8883"),
            "mqtts://***@hub:8883"
        );
        assert_eq!(redact_url("mqtt://hub:1883"), "mqtt://hub:1883");
        let config = load_env(&[
            ("DEPOT_MQTT_URL", "mqtts://depot:secret@hub:8883"),
            ("DEPOT_MQTT_CA_FILE", "/etc/depot/ca.pem"),
        ])
        .unwrap();
        assert_eq!(
            config.mqtt_url.as_deref(),
            Some("mqtts://depot:secret@hub:8883"),
            "the server still gets the credentials"
        );
        let logged = config.redacted();
        assert!(!logged.contains("secret"), "{logged}");
        assert!(logged.contains("mqtt_url=mqtts://***@hub:8883"), "{logged}");
        let logged = Config::default().redacted();
        for field in [
            "depot_id=depot-1",
            "db=depot.db",
            "listen=127.0.0.1:8080",
            "mqtt_url=none",
            "mqtt_inflight=64",
            "mqtt_keep_alive_s=15",
            "gateway=sim",
            "busy_timeout_ms=5000",
            "max_body_bytes=1048576",
            "max_db_size_kib=none",
            "idempotency_retention_days=30",
        ] {
            assert!(logged.contains(field), "{field} missing from {logged}");
        }
    }
}
