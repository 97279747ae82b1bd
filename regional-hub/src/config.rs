//! Configuration: defaults → TOML file → `HUB_*` environment → command line,
//! layered by figment as in depot-server; then `resolve()` checks what the
//! types cannot and names the key. This module reads no process state
//! itself: `main` hands it the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use feed_contract::{Broker, Tls};
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The effective configuration; `redacted()` is what is logged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The database: a SQLite file path, or a `postgres://` URL (several hub
    /// instances may share one PostgreSQL). Default `hub.db`.
    pub db: String,
    /// Where the HTTP server listens. Default `127.0.0.1:8090`.
    pub listen: SocketAddr,
    /// The broker, `mqtt://[user:password@]host[:port]` or `mqtts://…` (TLS,
    /// port 8883 by default); unset = no feed.
    pub mqtt_url: Option<String>,
    /// PEM file of the CA that signed the broker's certificate; required with
    /// `mqtts://`, which verifies the broker by it (and by its host name or IP address).
    pub mqtt_ca_file: Option<PathBuf>,
    /// PEM file of the hub's client certificate for `mqtts://` (with `mqtt_key_file`);
    /// a broker that grades access takes its CN as the hub's identity.
    pub mqtt_cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (with `mqtt_cert_file`).
    pub mqtt_key_file: Option<PathBuf>,
    /// The hub's MQTT client id, which names its persistent session at the
    /// broker: keep it across restarts. Default `regional-hub`.
    pub mqtt_client_id: String,
    /// MQTT keep-alive in seconds (5–3600). Default 15.
    pub mqtt_keep_alive_s: u64,
    /// The MQTT shared-subscription group (`$share/{group}/…`) of hub
    /// instances that split the feed between them on one PostgreSQL;
    /// `[A-Za-z0-9_-]{1,64}`. Unset = this hub receives every message.
    pub mqtt_share_group: Option<String>,
    /// A depot unheard of for longer than this is stale, in seconds (1–604800). Default 300.
    pub stale_after_s: u64,
    /// How often the hub looks for missing movements, in seconds (1–3600):
    /// what was missing at two looks in a row is asked of the depot again.
    /// Default 15.
    pub resend_after_s: u64,
    /// Log filter (`tracing` env-filter syntax). Default `info`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db: "hub.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            mqtt_url: None,
            mqtt_ca_file: None,
            mqtt_cert_file: None,
            mqtt_key_file: None,
            mqtt_client_id: "regional-hub".into(),
            mqtt_keep_alive_s: 15,
            mqtt_share_group: None,
            stale_after_s: 300,
            resend_after_s: 15,
            log: "info".into(),
        }
    }
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub db: Option<String>,
    pub listen: Option<String>,
}

/// A configuration error naming the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl Config {
    /// Loads from the file (`--config`, `HUB_CONFIG`, or `hub.toml` in the
    /// working directory if present), `env` (`HUB_*`) and `overrides`.
    pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let file = overrides
            .config
            .clone()
            .or_else(|| {
                env.iter()
                    .find(|(k, _)| k == "HUB_CONFIG")
                    .map(|(_, v)| PathBuf::from(v))
            })
            .or_else(|| Some(PathBuf::from("hub.toml")).filter(|p| p.exists()));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError {
                    key: "config".into(),
                    reason: format!("{} does not exist", file.display()),
                });
            }
            figment = figment.merge(Toml::file(file));
        }
        let hub_vars: Vec<(String, String)> = env
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("HUB_")?;
                (key != "CONFIG").then(|| (key.to_ascii_lowercase(), v.clone()))
            })
            .collect();
        for (key, value) in hub_vars {
            figment = figment.merge(Serialized::default(&key, value));
        }
        if let Some(db) = &overrides.db {
            figment = figment.merge(Serialized::default("db", db));
        }
        if let Some(listen) = &overrides.listen {
            figment = figment.merge(Serialized::default("listen", listen));
        }
        let config: Config = figment.extract_lossy().map_err(|error| ConfigError {
            key: error.path.join(".").to_string(),
            reason: error.to_string(),
        })?;
        config.resolve()
    }

    fn resolve(mut self) -> Result<Config, ConfigError> {
        let fail = |key: &str, reason: &str| ConfigError {
            key: key.into(),
            reason: reason.into(),
        };
        if self.db.is_empty() {
            return Err(fail("db", "must name a file"));
        }
        self.mqtt_url = self.mqtt_url.filter(|u| !u.is_empty());
        let tls = match &self.mqtt_url {
            Some(url) => {
                Broker::parse(url)
                    .map_err(|reason| fail("mqtt_url", &reason))?
                    .tls
            }
            None => false,
        };
        self.check_tls_files(tls)?;
        if self.mqtt_client_id.is_empty() || self.mqtt_client_id.len() > 64 {
            return Err(fail("mqtt_client_id", "must be 1 to 64 characters"));
        }
        if !(5..=3600).contains(&self.mqtt_keep_alive_s) {
            return Err(fail("mqtt_keep_alive_s", "must be from 5 to 3600"));
        }
        self.mqtt_share_group = self.mqtt_share_group.filter(|g| !g.is_empty());
        if let Some(group) = &self.mqtt_share_group {
            let valid = group.len() <= 64
                && group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(fail("mqtt_share_group", "must match [A-Za-z0-9_-]{1,64}"));
            }
            if crate::store::Backend::of(&self.db) == crate::store::Backend::Sqlite {
                return Err(fail(
                    "mqtt_share_group",
                    "instances sharing a subscription must share a database: set db to a postgres:// URL",
                ));
            }
        }
        if !(1..=604_800).contains(&self.stale_after_s) {
            return Err(fail("stale_after_s", "must be from 1 to 604800"));
        }
        if !(1..=3600).contains(&self.resend_after_s) {
            return Err(fail("resend_after_s", "must be from 1 to 3600"));
        }
        Ok(self)
    }

    /// The configuration as logged at start: broker credentials hidden.
    pub fn redacted(&self) -> String {
        let url = self
            .mqtt_url
            .as_deref()
            .map(|u| match Broker::parse(u) {
                Ok(broker) => format!("{broker:?}"),
                Err(_) => "invalid".into(),
            })
            .unwrap_or_else(|| "none".into());
        // Paths only: a file's content (the key) is never logged.
        let file = |path: &Option<PathBuf>| {
            path.as_deref()
                .map_or_else(|| "none".into(), |p| p.display().to_string())
        };
        format!(
            "db={} listen={} mqtt_url={url} mqtt_ca_file={} mqtt_cert_file={} mqtt_key_file={} \
             mqtt_client_id={} mqtt_keep_alive_s={} mqtt_share_group={} stale_after_s={} \
             resend_after_s={} log={}",
            redact_db(&self.db),
            self.listen,
            file(&self.mqtt_ca_file),
            file(&self.mqtt_cert_file),
            file(&self.mqtt_key_file),
            self.mqtt_client_id,
            self.mqtt_keep_alive_s,
            self.mqtt_share_group.as_deref().unwrap_or("none"),
            self.stale_after_s,
            self.resend_after_s,
            self.log
        )
    }

    /// The TLS files: the CA required with `mqtts://`, none of them without
    /// it, certificate and key together. An empty value counts as unset.
    fn check_tls_files(&mut self, tls: bool) -> Result<(), ConfigError> {
        let fail = |key: &str, reason: &str| ConfigError {
            key: key.into(),
            reason: reason.into(),
        };
        let set = |path: Option<PathBuf>| path.filter(|p| !p.as_os_str().is_empty());
        self.mqtt_ca_file = set(self.mqtt_ca_file.take());
        self.mqtt_cert_file = set(self.mqtt_cert_file.take());
        self.mqtt_key_file = set(self.mqtt_key_file.take());
        if tls && self.mqtt_ca_file.is_none() {
            return Err(fail(
                "mqtt_ca_file",
                "is required with mqtts://: the CA that signed the broker's certificate",
            ));
        }
        for (key, file) in [
            ("mqtt_ca_file", &self.mqtt_ca_file),
            ("mqtt_cert_file", &self.mqtt_cert_file),
            ("mqtt_key_file", &self.mqtt_key_file),
        ] {
            if !tls && file.is_some() {
                return Err(fail(key, "applies only to an mqtts:// mqtt_url"));
            }
        }
        match (&self.mqtt_cert_file, &self.mqtt_key_file) {
            (Some(_), None) => Err(fail("mqtt_cert_file", "needs mqtt_key_file too")),
            (None, Some(_)) => Err(fail("mqtt_key_file", "needs mqtt_cert_file too")),
            _ => Ok(()),
        }
    }

    /// Reads the TLS files named by the configuration; `None` for `mqtt://`.
    pub fn tls(&self) -> Result<Option<Tls>, ConfigError> {
        let read = |key: &str, path: &Path| {
            std::fs::read(path).map_err(|error| ConfigError {
                key: key.into(),
                reason: format!("cannot read {}: {error}", path.display()),
            })
        };
        let Some(ca) = &self.mqtt_ca_file else {
            return Ok(None);
        };
        let client = match (&self.mqtt_cert_file, &self.mqtt_key_file) {
            (Some(cert), Some(key)) => {
                Some((read("mqtt_cert_file", cert)?, read("mqtt_key_file", key)?))
            }
            _ => None,
        };
        Ok(Some(Tls {
            ca: read("mqtt_ca_file", ca)?,
            client,
        }))
    }
}

/// A database setting as logged: a URL's password replaced by `***`.
fn redact_db(db: &str) -> String {
    match db.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => db.to_owned(),
        },
        None => db.to_owned(),
    }
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
    fn layers_win_in_order_defaults_file_env_command_line() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("hub.toml");
        std::fs::write(
            &file,
            "db = \"file.db\"\nstale_after_s = 60\nlisten = \"127.0.0.1:1\"\n",
        )
        .expect("write");
        let overrides = Overrides {
            config: Some(file),
            db: None,
            listen: Some("127.0.0.1:3".into()),
        };
        let config = Config::load(
            &overrides,
            &env(&[
                ("HUB_DB", "env.db"),
                ("HUB_LISTEN", "127.0.0.1:2"),
                ("OTHER", "x"),
            ]),
        )
        .expect("loads");
        assert_eq!(config.db, "env.db");
        assert_eq!(config.stale_after_s, 60);
        assert_eq!(config.listen.port(), 3);
        assert_eq!(config.mqtt_client_id, "regional-hub");
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let error =
            Config::load(&Overrides::default(), &env(&[("HUB_NOPE", "1")])).expect_err("unknown");
        assert!(error.reason.contains("nope"), "{error}");
        let error = Config::load(&Overrides::default(), &env(&[("HUB_STALE_AFTER_S", "0")]))
            .expect_err("range");
        assert_eq!(error.key, "stale_after_s");
        let error = Config::load(&Overrides::default(), &env(&[("HUB_MQTT_URL", "http://x")]))
            .expect_err("url");
        assert_eq!(error.key, "mqtt_url");
        let config = Config::load(
            &Overrides::default(),
            &env(&[("HUB_MQTT_URL", "mqtt://u:secret@h:1")]),
        )
        .expect("ok");
        assert!(!config.redacted().contains("secret"));
    }

    #[test]
    fn tls_files_go_with_mqtts() {
        let load = |pairs: &[(&str, &str)]| Config::load(&Overrides::default(), &env(pairs));
        let tls = ("HUB_MQTT_URL", "mqtts://broker:8883");
        assert_eq!(load(&[tls]).expect_err("no CA").key, "mqtt_ca_file");
        let ok = load(&[
            tls,
            ("HUB_MQTT_CA_FILE", "/ca.crt"),
            ("HUB_MQTT_CERT_FILE", "/hub.crt"),
            ("HUB_MQTT_KEY_FILE", "/hub.key"),
        ])
        .expect("complete");
        assert_eq!(ok.mqtt_key_file, Some(PathBuf::from("/hub.key")));
        assert!(load(&[tls, ("HUB_MQTT_CA_FILE", "/ca.crt")]).is_ok());
        let half = load(&[
            tls,
            ("HUB_MQTT_CA_FILE", "/ca.crt"),
            ("HUB_MQTT_CERT_FILE", "/hub.crt"),
        ]);
        assert_eq!(half.expect_err("cert alone").key, "mqtt_cert_file");
        let half = load(&[
            tls,
            ("HUB_MQTT_CA_FILE", "/ca.crt"),
            ("HUB_MQTT_KEY_FILE", "/hub.key"),
        ]);
        assert_eq!(half.expect_err("key alone").key, "mqtt_key_file");
        let plain = load(&[
            ("HUB_MQTT_URL", "mqtt://broker:1883"),
            ("HUB_MQTT_CA_FILE", "/ca.crt"),
        ]);
        assert_eq!(plain.expect_err("CA without TLS").key, "mqtt_ca_file");
        let empty = load(&[tls, ("HUB_MQTT_CA_FILE", "")]);
        assert_eq!(empty.expect_err("empty is unset").key, "mqtt_ca_file");
    }

    #[test]
    fn tls_files_are_read_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        for (name, text) in [
            ("ca.crt", "CA"),
            ("hub.crt", "CERT"),
            ("hub.key", "KEY-MATERIAL-7"),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        let path = |name: &str| dir.path().join(name).display().to_string();
        let config = Config::load(
            &Overrides::default(),
            &env(&[
                ("HUB_MQTT_URL", "mqtts://broker"),
                ("HUB_MQTT_CA_FILE", &path("ca.crt")),
                ("HUB_MQTT_CERT_FILE", &path("hub.crt")),
                ("HUB_MQTT_KEY_FILE", &path("hub.key")),
            ]),
        )
        .expect("config");
        let tls = config.tls().expect("read").expect("tls");
        assert_eq!(tls.ca, b"CA");
        assert_eq!(
            tls.client,
            Some((b"CERT".to_vec(), b"KEY-MATERIAL-7".to_vec()))
        );
        assert!(
            !config.redacted().contains("MATERIAL"),
            "{}",
            config.redacted()
        );
        let missing = Config {
            mqtt_key_file: Some(dir.path().join("gone.key")),
            ..config
        };
        assert_eq!(missing.tls().expect_err("missing").key, "mqtt_key_file");
        assert_eq!(Config::default().tls(), Ok(None));
    }

    #[test]
    fn a_share_group_needs_postgres_and_a_plain_name() {
        let error = Config::load(
            &Overrides::default(),
            &env(&[("HUB_MQTT_SHARE_GROUP", "hubs")]),
        )
        .expect_err("sqlite");
        assert_eq!(error.key, "mqtt_share_group");
        let postgres = ("HUB_DB", "postgres://hub:pw@127.0.0.1:5432/hub");
        let error = Config::load(
            &Overrides::default(),
            &env(&[postgres, ("HUB_MQTT_SHARE_GROUP", "a/b")]),
        )
        .expect_err("slash");
        assert_eq!(error.key, "mqtt_share_group");
        let config = Config::load(
            &Overrides::default(),
            &env(&[postgres, ("HUB_MQTT_SHARE_GROUP", "hubs")]),
        )
        .expect("ok");
        assert_eq!(config.mqtt_share_group.as_deref(), Some("hubs"));
        assert!(!config.redacted().contains("pw@"), "{}", config.redacted());
    }
}
