//! HTTPS on the real binary: curl (OpenSSL) trusting a test CA books over
//! TLS, plain HTTP to the TLS port gets a clean 400, and after SIGHUP new
//! connections get the new certificate while an open one goes on. Test
//! certificates are made with openssl; `cert self-signed` with the binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is missing ({e}): run scripts/install-deps.sh (Debian package {program})")
        })
}

/// A CA `{name}-ca.pem` and a server certificate `{name}.pem` / `{name}.key`
/// it signed for localhost and 127.0.0.1, made with openssl in `dir`.
fn make_ca_and_server(dir: &Path, name: &str) {
    let openssl = |args: &[&str]| {
        let out = run("openssl", args, dir);
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let ca_subject = format!("/CN=depot test CA {name}");
    let (ca_key, ca_pem) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    openssl(
        &[
            &["req", "-x509", "-nodes", "-days", "2"][..],
            &ec,
            &["-keyout", &ca_key, "-out", &ca_pem, "-subj", &ca_subject],
        ]
        .concat(),
    );
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        &[
            &["req", "-nodes"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"],
        ]
        .concat(),
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_pem,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &pem,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
}

/// The real binary serving HTTPS with `live.pem` / `live.key` in `dir`.
struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
            .args(["run", "--listen", "127.0.0.1:0", "--db", "depot.db"])
            .current_dir(dir)
            .env("DEPOT_LOG", "info")
            .env("DEPOT_GATEWAY", "off")
            .env("DEPOT_TLS_CERT_FILE", dir.join("live.pem"))
            .env("DEPOT_TLS_KEY_FILE", dir.join("live.key"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn depot-server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let address = loop {
            assert!(Instant::now() < deadline, "server did not start");
            let line = lines.next().expect("server exited").expect("stderr");
            if let Some((_, rest)) = line.split_once("listening on https://") {
                break rest.trim().to_owned();
            }
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            address,
            log,
        }
    }

    fn port(&self) -> &str {
        self.address.rsplit_once(':').expect("port").1
    }

    fn hang_up(&self) {
        let out = run(
            "kill",
            &["-HUP", &self.child.id().to_string()],
            Path::new("/"),
        );
        assert!(out.status.success());
    }

    async fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log.lock().unwrap().iter().any(|l| l.contains(text)) {
            assert!(Instant::now() < deadline, "no log line with '{text}'");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl (OpenSSL, an independent TLS client) to `https://localhost:PORT{path}`
/// trusting only `ca`: its exit code and, on success, status line, headers and body.
fn curl(server: &Server, ca: &Path, args: &[&str], path: &str) -> (i32, String) {
    let url = format!("https://localhost:{}{path}", server.port());
    let resolve = format!("localhost:{}:127.0.0.1", server.port());
    let out = Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--max-time",
            "20",
            "--resolve",
            &resolve,
            "--cacert",
        ])
        .arg(ca)
        .args(args)
        .arg(&url)
        .output()
        .expect("curl is missing: run scripts/install-deps.sh (Debian package curl)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["--db", "depot.db"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn install(dir: &Path, name: &str) {
    std::fs::copy(dir.join(format!("{name}.pem")), dir.join("live.pem")).unwrap();
    std::fs::copy(dir.join(format!("{name}.key")), dir.join("live.key")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trusts_the_ca_books_over_tls_and_plain_http_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    make_ca_and_server(dir, "one");
    install(dir, "one");
    let manager = cli(dir, &["user", "add", "boss", "--role", "manager"]);
    let staff = cli(dir, &["user", "add", "hand", "--role", "staff"]);
    let server = Server::start(dir);
    let ca = dir.join("one-ca.pem");

    let bearer = |token: &str| format!("Authorization: Bearer {token}");
    let json = "Content-Type: application/json";
    for (path, body) in [
        (
            "/api/v1/articles",
            r#"{"sku":"TLS-1","name":"Over TLS","unit":"piece"}"#,
        ),
        (
            "/api/v1/locations",
            r#"{"code":"A-01","zone":"A","kind":"bin"}"#,
        ),
    ] {
        let (code, answer) = curl(
            &server,
            &ca,
            &["-H", &bearer(&manager), "-H", json, "--data", body],
            path,
        );
        assert_eq!((code, status_of(&answer)), (0, 201), "{answer}");
    }
    let booking = r#"{"kind":"receive","sku":"TLS-1","quantity":5,"to":"A-01"}"#;
    let (code, answer) = curl(
        &server,
        &ca,
        &[
            "-H",
            &bearer(&staff),
            "-H",
            json,
            "-H",
            "Idempotency-Key: tls-booking-1",
            "--data",
            booking,
        ],
        "/api/v1/movements",
    );
    assert_eq!((code, status_of(&answer)), (0, 201), "{answer}");
    assert!(answer.contains("\"seq\":1"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age=31536000"),
        "HSTS over TLS: {answer}"
    );

    // The web page's cookies are Secure over TLS.
    let (code, answer) = curl(&server, &ca, &[], "/login");
    assert_eq!((code, status_of(&answer)), (0, 200), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {answer}"));
    assert!(cookie.contains("; Secure"), "{cookie}");

    // A client that does not trust the CA refuses the server (curl: 60).
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    make_ca_and_server(&other, "stranger");
    let (code, answer) = curl(&server, &other.join("stranger-ca.pem"), &[], "/healthz");
    assert_eq!(code, 60, "an unknown CA must fail verification: {answer}");

    // Plain HTTP to the TLS port: a plain 400 that says what to do, then closed.
    let plain = reqwest::get(format!("http://{}/healthz", server.address))
        .await
        .expect("a plain-HTTP answer, not a broken connection");
    assert_eq!(plain.status(), 400);
    assert!(plain.text().await.unwrap().contains("HTTPS only"));
    // A TLS client that gives up mid-handshake harms nothing either.
    let mut half = tokio::net::TcpStream::connect(&server.address)
        .await
        .unwrap();
    half.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    drop(half);
    let (code, answer) = curl(&server, &ca, &[], "/healthz");
    assert_eq!((code, status_of(&answer)), (0, 200), "{answer}");
}

/// A rustls client connection that trusts `ca`, kept open.
async fn connect(
    address: &str,
    ca: &Path,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let pem = std::fs::read(ca)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert?).map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// One `GET path` on an open HTTP/1.1 connection: the status.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut tokio::io::BufReader<S>,
    path: &str,
) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .unwrap();
    stream.get_mut().flush().await.unwrap();
    let mut status = String::new();
    stream.read_line(&mut status).await.unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    status_of(&status)
}

fn der_of(path: &PathBuf) -> CertificateDer<'static> {
    let pem = std::fs::read(path).unwrap();
    let first = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .expect("a certificate")
        .unwrap();
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sighup_new_connections_get_the_new_certificate_and_open_ones_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    make_ca_and_server(dir, "one");
    make_ca_and_server(dir, "two");
    install(dir, "one");
    let server = Server::start(dir);
    let (ca_one, ca_two) = (dir.join("one-ca.pem"), dir.join("two-ca.pem"));

    let tls = connect(&server.address, &ca_one).await.expect("handshake");
    assert_eq!(
        tls.get_ref().1.peer_certificates().unwrap()[0],
        der_of(&dir.join("one.pem"))
    );
    let mut open = tokio::io::BufReader::new(tls);
    assert_eq!(get(&mut open, "/healthz").await, 200);
    let (code, _) = curl(&server, &ca_two, &[], "/healthz");
    assert_eq!(code, 60, "certificate two is not served yet");

    install(dir, "two");
    server.hang_up();
    server.wait_for_log("certificate reloaded").await;
    let (code, answer) = curl(&server, &ca_two, &[], "/healthz");
    assert_eq!((code, status_of(&answer)), (0, 200), "{answer}");
    let fresh = connect(&server.address, &ca_two).await.expect("handshake");
    assert_eq!(
        fresh.get_ref().1.peer_certificates().unwrap()[0],
        der_of(&dir.join("two.pem"))
    );
    assert!(
        connect(&server.address, &ca_one).await.is_err(),
        "a new connection must not get certificate one"
    );
    // The connection opened before the reload is still served.
    assert_eq!(get(&mut open, "/healthz").await, 200);
    assert_eq!(get(&mut open, "/api/v1/openapi.json").await, 200);

    // A broken file on SIGHUP keeps the certificate in use.
    std::fs::write(dir.join("live.pem"), "not a certificate").unwrap();
    server.hang_up();
    server.wait_for_log("certificate not reloaded").await;
    let (code, answer) = curl(&server, &ca_two, &[], "/healthz");
    assert_eq!((code, status_of(&answer)), (0, 200), "{answer}");
    assert_eq!(get(&mut open, "/healthz").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_self_signed_makes_a_first_certificate_the_server_starts_with() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let cert_self_signed = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_depot-server"))
            .args([
                "cert",
                "self-signed",
                "--name",
                "localhost",
                "--name",
                "127.0.0.1",
            ])
            .args(extra)
            .current_dir(dir)
            .env("DEPOT_TLS_CERT_FILE", dir.join("live.pem"))
            .env("DEPOT_TLS_KEY_FILE", dir.join("live.key"))
            .output()
            .expect("run depot-server")
    };
    let out = cert_self_signed(&[]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("SHA-256 fingerprint"), "{said}");
    let again = cert_self_signed(&[]);
    assert!(!again.status.success(), "existing files are kept");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("live.key"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let unconfigured = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["cert", "self-signed"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!unconfigured.status.success());
    assert!(String::from_utf8_lossy(&unconfigured.stderr).contains("tls_cert_file"));

    // The certificate is its own CA: a client that trusts it connects.
    let server = Server::start(dir);
    let (code, answer) = curl(&server, &dir.join("live.pem"), &[], "/healthz");
    assert_eq!((code, status_of(&answer)), (0, 200), "{answer}");
}
