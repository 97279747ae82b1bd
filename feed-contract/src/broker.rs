//! Where the feed's broker is: the `mqtt[s]://[user:password@]host[:port]`
//! address both the depot's publisher and the regional hub are given,
//! parsed once for both, and the PEM material `mqtts://` needs ([`Tls`]).
//! Neither `Debug` shows a secret (credentials, private key).

/// Where the broker is, from `mqtt[s]://[user:password@]host[:port]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    /// `mqtts://`: TLS with the material in a [`Tls`].
    pub tls: bool,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials, whatever logs this.
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl Broker {
    /// Parses `mqtt://[user:password@]host[:port]` (port 1883 by default)
    /// or `mqtts://…` (port 8883 by default).
    pub fn parse(url: &str) -> Result<Broker, String> {
        let (tls, rest) = match (url.strip_prefix("mqtts://"), url.strip_prefix("mqtt://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err("must start with mqtt:// or mqtts://".into()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((user_info, address)) => {
                let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
                (Some((user.to_owned(), password.to_owned())), address)
            }
            None => (None, rest),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("port '{port}' is not a number from 0 to 65535"))?,
            ),
            None => (address, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() || host.contains('/') {
            return Err("must name a host: mqtt://host:port".into());
        }
        Ok(Broker {
            host: host.to_owned(),
            port,
            credentials,
            tls,
        })
    }
}

/// What `mqtts://` needs, as PEM: the CA that signed the broker's
/// certificate, and the client's certificate and private key, which the
/// broker may require and take as the client's identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: Vec<u8>,
    /// Certificate and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "Tls {{ client certificate: {} }}", self.client.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_debug_shows_no_key() {
        let tls = Tls {
            ca: b"ca".to_vec(),
            client: Some((b"cert".to_vec(), b"PRIVATE KEY 123".to_vec())),
        };
        let shown = format!("{tls:?}");
        assert!(
            !shown.contains("123") && !shown.contains("PRIVATE"),
            "{shown}"
        );
        assert!(shown.contains("client certificate: true"), "{shown}");
    }
}
