//! HTTPS on the depot's listener: the certificate and key from the files the
//! configuration names, read again on SIGHUP (new handshakes get the new pair,
//! open connections keep theirs), a TLS listener for `axum::serve`, the
//! headers a TLS listener adds (HSTS), and `cert self-signed`'s first
//! certificate. Knows nothing of routes or the depot.
//!
//! rustls 0.22 with ring, the same TLS stack the feed's MQTT client already
//! links, so HTTPS adds no second copy of it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::connections::{BoundedListener, Connection};
use crate::http::limits::ClientAddress;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// `Strict-Transport-Security` of every answer over TLS: one year. Without
/// `includeSubDomains`: the depot's name says nothing about its neighbours.
const HSTS: &str = "max-age=31536000";
/// The first byte of a TLS record that carries a handshake (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
}

/// The listener's certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks both files: a chain of at least one certificate, a
    /// private key of a type rustls signs with, and the key belongs to the
    /// first certificate (checked by a handshake in memory).
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let invalid = |path: &Path, reason: String| TlsError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let cert_pem = read(&self.cert)?;
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(&self.cert, format!("not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(&self.cert, "holds no CERTIFICATE".into()));
        }
        let key_pem = read(&self.key)?;
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|e| invalid(&self.key, format!("not PEM: {e}")))?
            .ok_or_else(|| invalid(&self.key, "holds no PRIVATE KEY".into()))?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| invalid(&self.key, format!("unusable key: {e}")))?;
        let certified = Arc::new(CertifiedKey::new(chain, signer));
        handshake_in_memory(&certified).map_err(|reason| {
            invalid(
                &self.key,
                format!(
                    "does not belong to the certificate in {}: {reason}",
                    self.cert.display()
                ),
            )
        })?;
        Ok(certified)
    }
}

/// The certificate in use; swapped whole by [`CertStore::reload`], read by
/// every new handshake.
pub struct CertStore {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the files; the server does not start without a usable pair.
    pub fn open(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let current = RwLock::new(files.load()?);
        Ok(Arc::new(Self { files, current }))
    }

    /// Reads the files again. On any error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = self.files.load()?;
        // A poisoned lock only means a panic elsewhere while holding it; the value is whole.
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The TLS settings of the listener: HTTP/1.1, certificates from this store.
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// Runs a TLS 1.3 handshake between a server with `certified` and a client
/// that trusts any certificate but checks the handshake's signature against
/// the certificate's public key: it fails when the key is not the
/// certificate's. Nothing leaves the process.
fn handshake_in_memory(certified: &Arc<CertifiedKey>) -> Result<(), String> {
    let server_config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(certified.clone())));
    let provider = rustls::crypto::ring::default_provider();
    let client_config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SignatureOnly(provider)))
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from("depot.invalid").map_err(|e| e.to_string())?;
    let mut client =
        rustls::ClientConnection::new(Arc::new(client_config), name).map_err(|e| e.to_string())?;
    let mut server =
        rustls::ServerConnection::new(Arc::new(server_config)).map_err(|e| e.to_string())?;
    // A full handshake takes two flights each way; a few more rounds cost nothing.
    for _ in 0..10 {
        let mut wire = Vec::new();
        client.write_tls(&mut wire).map_err(|e| e.to_string())?;
        server
            .read_tls(&mut wire.as_slice())
            .map_err(|e| e.to_string())?;
        server.process_new_packets().map_err(|e| e.to_string())?;
        let mut wire = Vec::new();
        server.write_tls(&mut wire).map_err(|e| e.to_string())?;
        client
            .read_tls(&mut wire.as_slice())
            .map_err(|e| e.to_string())?;
        client.process_new_packets().map_err(|e| e.to_string())?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    Err("the handshake did not finish".into())
}

/// A resolver with one certificate, for the handshake in memory.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A verifier that trusts any certificate and checks only that the peer
/// signed the handshake with the certificate's key. Used only in memory.
#[derive(Debug)]
struct SignatureOnly(rustls::crypto::CryptoProvider);

impl rustls::client::danger::ServerCertVerifier for SignatureOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reloads the certificate on every SIGHUP for as long as the server runs.
/// Without TLS a SIGHUP is logged and ignored (so `systemctl reload` never
/// stops a plain-HTTP depot).
pub async fn reload_on_sighup(store: Option<Arc<CertStore>>) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGHUP; the certificate is not reloaded");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match &store {
            None => tracing::info!("SIGHUP: no TLS configured, nothing to reload"),
            Some(store) => match store.reload() {
                Ok(()) => tracing::info!(
                    cert = %store.files.cert.display(),
                    "SIGHUP: certificate reloaded; new connections get it"
                ),
                Err(error) => tracing::error!(
                    %error,
                    "SIGHUP: certificate not reloaded; the one in use stays"
                ),
            },
        }
    }
}

/// A listener that hands `axum::serve` connections whose TLS handshake is
/// done. Handshakes run in their own tasks, so a slow client never holds
/// up the others; a plain-HTTP request gets a short 400 that says to use
/// `https://`, then the connection is closed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<Connection>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; the acceptor stops when this is dropped.
    /// Every connection, from TCP accept through the handshake to its close,
    /// counts toward `tcp`'s bound.
    pub fn new(tcp: BoundedListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), ready_tx));
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<Connection>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The acceptor ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddress {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddress(*stream.remote_addr())
    }
}

async fn accept_loop(
    tcp: BoundedListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<Connection>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            () = ready.closed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(handshake(stream, peer, acceptor.clone(), ready.clone()));
            }
            Err(error) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handshake(
    stream: Connection,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<Connection>, SocketAddr)>,
) {
    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let mut first = [0_u8; 1];
        if stream.tcp().peek(&mut first).await? == 0 {
            return Ok(None);
        }
        if first[0] != TLS_HANDSHAKE {
            refuse_plain_http(stream).await;
            return Ok(None);
        }
        acceptor.accept(stream).await.map(Some)
    })
    .await;
    match outcome {
        Ok(Ok(Some(tls))) => {
            let _ = ready.send((tls, peer)).await;
        }
        Ok(Ok(None)) => {}
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Answers a plain-HTTP request on the TLS port in plain HTTP, then closes.
async fn refuse_plain_http(mut stream: Connection) {
    let body = "This port speaks HTTPS only: use https://\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Middleware of a TLS listener: says to the handlers that the request came
/// over TLS (`X-Forwarded-Proto: https`, whatever the client sent, so the
/// session cookie is `Secure`) and adds HSTS to every answer.
pub async fn over_tls(mut request: Request, next: Next) -> Response {
    request
        .headers_mut()
        .insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}

/// A certificate made by [`self_signed`].
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the certificate (DER), hex, for a person to compare.
    pub sha256: String,
}

impl fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("SelfSigned")
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// The names a first certificate is made for when none are given: this
/// host's name (from the kernel), `localhost`, `127.0.0.1` and `::1`.
pub fn default_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
        }
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    names
}

/// A first certificate: self-signed, ECDSA P-256, for `names` (DNS names or
/// IP addresses), valid from `now` for `days`.
pub fn self_signed(
    names: &[String],
    now: time::OffsetDateTime,
    days: u32,
) -> Result<SelfSigned, TlsError> {
    use sha2::Digest;
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(generate)?;
    let common_name = names.first().cloned().unwrap_or_else(|| "depot".into());
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Depot Edge (self-signed)");
    // An hour back, so a client whose clock is a little behind accepts it.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    let cert = params.self_signed(&key).map_err(generate)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sha256: hex::encode(sha2::Sha256::digest(cert.der())),
    })
}

/// Writes a certificate and key made by [`self_signed`] to `files`: the key
/// readable by its owner only; existing files only with `replace`.
pub fn write_self_signed(
    files: &TlsFiles,
    names: &[String],
    now: time::OffsetDateTime,
    days: u32,
    replace: bool,
) -> Result<SelfSigned, TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let made = self_signed(names, now, days)?;
    let pairs = [
        (&files.key, &made.key_pem, 0o600),
        (&files.cert, &made.cert_pem, 0o644),
    ];
    for (path, text, mode) in pairs {
        let failed = |source| TlsError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).mode(mode);
        if replace {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let mut file = options.open(path).map_err(failed)?;
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str, names: &[&str]) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        write_self_signed(&files, &names, time::OffsetDateTime::now_utc(), 30, false).unwrap();
        files
    }

    #[test]
    fn a_self_signed_pair_loads_and_its_key_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "a", &["depot-7.example", "127.0.0.1"]);
        let certified = files.load().unwrap();
        assert_eq!(certified.cert.len(), 1);
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<String> = vec!["x".into()];
        let again = write_self_signed(&files, &names, time::OffsetDateTime::now_utc(), 1, false);
        assert!(matches!(again, Err(TlsError::Write { .. })), "{again:?}");
        write_self_signed(&files, &names, time::OffsetDateTime::now_utc(), 1, true).unwrap();
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_and_a_failed_reload_keeps_the_old_pair() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_pair(dir.path(), "a", &["localhost"]);
        let b = write_pair(dir.path(), "b", &["localhost"]);
        let mixed = TlsFiles {
            cert: a.cert.clone(),
            key: b.key.clone(),
        };
        let error = mixed.load().unwrap_err().to_string();
        assert!(
            error.contains("does not belong to the certificate"),
            "{error}"
        );

        let store = CertStore::open(a.clone()).unwrap();
        let before = store.current.read().unwrap().cert.clone();
        std::fs::write(&a.cert, "garbage").unwrap();
        let error = store.reload().unwrap_err().to_string();
        assert!(error.contains("holds no CERTIFICATE"), "{error}");
        assert_eq!(store.current.read().unwrap().cert, before);
        std::fs::copy(&b.cert, &a.cert).unwrap();
        std::fs::copy(&b.key, &a.key).unwrap();
        store.reload().unwrap();
        assert_ne!(store.current.read().unwrap().cert, before);
    }

    #[test]
    fn files_that_are_not_a_pair_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("none.crt"),
            key: dir.path().join("none.key"),
        };
        let error = files.load().unwrap_err().to_string();
        assert!(error.contains("none.crt"), "{error}");
        let a = write_pair(dir.path(), "a", &["localhost"]);
        let keyless = TlsFiles {
            cert: a.cert.clone(),
            key: a.cert.clone(),
        };
        let error = keyless.load().unwrap_err().to_string();
        assert!(error.contains("holds no PRIVATE KEY"), "{error}");
    }
}
