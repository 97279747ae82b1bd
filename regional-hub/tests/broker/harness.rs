//! What the broker tests run against, all real: certificates from
//! `scripts/test-ca.sh`, Mosquitto with the shipped configuration of
//! `deploy/mosquitto/` (only its paths and listener pointed at a test
//! directory), rumqttc clients that authenticate with those certificates,
//! the depot-server and regional-hub binaries, and network namespaces made
//! with iproute2.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use feed_contract::Tls;
use reqwest::Client;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::{json, Value};

pub use crate::support::depot_server_binary;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// How long any awaited condition may take on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The shipped broker configuration and ACL, compiled in so a change to
/// them rebuilds and reruns these tests.
const SHIPPED_CONFIG: &str = include_str!("../../../deploy/mosquitto/mosquitto.conf");
const SHIPPED_ACL: &str = include_str!("../../../deploy/mosquitto/acl");
/// Where the shipped configuration expects its files and keeps its state.
const SHIPPED_FILES: &str = "/etc/mosquitto/depot-edge/";
const SHIPPED_STATE: &str = "/var/lib/mosquitto/";
const SHIPPED_LISTENER: &str = "listener 8883\n";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command to completion, failing the test with its stderr.
pub fn run_ok(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A test CA and certificates made by `scripts/test-ca.sh`.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// The broker's certificate names `sans` (e.g. `IP:127.0.0.1`); one client
    /// certificate per name in `clients`.
    pub fn make(sans: &[&str], clients: &[&str]) -> Pki {
        let dir = tempfile::tempdir().expect("dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-ca.sh");
        let mut command = Command::new(script);
        command.arg(dir.path());
        for san in sans {
            command.args(["--broker-san", san]);
        }
        run_ok(command.args(clients));
        Pki { dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA, and the certificate and key of `identity`.
    pub fn tls(&self, identity: &str) -> Tls {
        let read = |name: &str| std::fs::read(self.file(name)).expect("certificate file");
        Tls {
            ca: read("ca.crt"),
            client: Some((
                read(&format!("{identity}.crt")),
                read(&format!("{identity}.key")),
            )),
        }
    }
}

/// Mosquitto running the shipped configuration.
pub struct Broker {
    _process: Process,
    dir: tempfile::TempDir,
}

impl Broker {
    /// On `127.0.0.1:port` in this network namespace.
    pub fn start(pki: &Pki, port: u16) -> Broker {
        Self::start_in(
            pki,
            &format!("listener {port} 127.0.0.1\n"),
            None,
            ("127.0.0.1", port),
        )
    }

    /// Inside the namespace `netns`, on every address there, port 8883 as
    /// shipped; `probe` is an address of it this namespace can reach.
    pub fn start_in_netns(pki: &Pki, netns: &Netns, probe: &str) -> Broker {
        Self::start_in(pki, SHIPPED_LISTENER, Some(netns), (probe, 8883))
    }

    fn start_in(pki: &Pki, listener: &str, netns: Option<&Netns>, probe: (&str, u16)) -> Broker {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run scripts/install-deps.sh (Debian package mosquitto)"
        );
        let dir = tempfile::tempdir().expect("dir");
        for file in ["ca.crt", "broker.crt", "broker.key"] {
            std::fs::copy(pki.file(file), dir.path().join(file)).expect("copy certificate");
        }
        std::fs::write(dir.path().join("acl"), SHIPPED_ACL).expect("acl");
        let files = format!("{}/", dir.path().display());
        let mut config = SHIPPED_CONFIG.to_owned();
        for (from, to) in [
            (SHIPPED_FILES, files.as_str()),
            (SHIPPED_STATE, files.as_str()),
            (SHIPPED_LISTENER, listener),
        ] {
            assert!(
                config.contains(from),
                "deploy/mosquitto/mosquitto.conf no longer has {from:?}: update the broker tests"
            );
            config = config.replace(from, to);
        }
        // The tests run as root; Mosquitto would otherwise switch to its own
        // user, which cannot read the test directory.
        config.push_str("user root\n");
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, config).expect("config");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let mut command = match netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns.name.as_str(), MOSQUITTO]);
                command
            }
            None => Command::new(MOSQUITTO),
        };
        let child = command
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn mosquitto");
        let broker = Broker {
            _process: Process(child),
            dir,
        };
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(probe).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {probe:?}: {}",
                broker.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    /// What the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

/// One message as a client received it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Received {
    pub topic: String,
    pub payload: String,
}

/// A rumqttc client over TLS with `identity`'s certificate, as a depot,
/// hub or cell would connect: collects what arrives, counts SUBACKs and
/// PUBACKs, and remembers a lost connection (it does not reconnect).
pub struct Mqtt {
    client: AsyncClient,
    received: Arc<Mutex<Vec<Received>>>,
    subacks: Arc<AtomicUsize>,
    pubacks: Arc<AtomicUsize>,
    lost: Arc<Mutex<Option<String>>>,
    subscribed: AtomicUsize,
    published: AtomicUsize,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mqtt {
    /// Connects as `identity` with client id `client_id`; waits for CONNACK.
    pub async fn connect(pki: &Pki, port: u16, identity: &str, client_id: &str) -> Mqtt {
        let tls = pki.tls(identity);
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca: tls.ca,
                alpn: None,
                client_auth: tls.client,
            }));
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        let received = Arc::new(Mutex::new(Vec::new()));
        let (subacks, pubacks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let lost = Arc::new(Mutex::new(None));
        let (connected_tx, connected_rx) = tokio::sync::oneshot::channel();
        let task = {
            let (received, subacks, pubacks, lost) = (
                received.clone(),
                subacks.clone(),
                pubacks.clone(),
                lost.clone(),
            );
            let mut connected_tx = Some(connected_tx);
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if let Some(tx) = connected_tx.take() {
                                let _ = tx.send(Ok(()));
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            subacks.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            pubacks.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            received.lock().unwrap().push(Received {
                                topic: publish.topic.clone(),
                                payload: String::from_utf8_lossy(&publish.payload).into_owned(),
                            });
                        }
                        Ok(_) => {}
                        Err(error) => {
                            match connected_tx.take() {
                                Some(tx) => {
                                    let _ = tx.send(Err(error.to_string()));
                                }
                                None => *lost.lock().unwrap() = Some(error.to_string()),
                            }
                            return;
                        }
                    }
                }
            })
        };
        match tokio::time::timeout(DEADLINE, connected_rx).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("{identity} could not connect: {other:?}"),
        }
        Mqtt {
            client,
            received,
            subacks,
            pubacks,
            lost,
            subscribed: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            task,
        }
    }

    /// Subscribes at QoS 1 and waits for the SUBACK.
    pub async fn subscribe(&self, filter: &str) {
        let target = self.subscribed.fetch_add(1, Ordering::SeqCst) + 1;
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        self.wait_count(&self.subacks, target, "SUBACK").await;
    }

    /// Publishes at QoS 1 and waits for the PUBACK: the broker has handled it
    /// (Mosquitto acknowledges a publish it refuses and drops it silently).
    pub async fn publish(&self, topic: &str, payload: &str, retain: bool) {
        let target = self.published.fetch_add(1, Ordering::SeqCst) + 1;
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .expect("publish");
        self.wait_count(&self.pubacks, target, "PUBACK").await;
    }

    async fn wait_count(&self, counter: &AtomicUsize, target: usize, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        while counter.load(Ordering::SeqCst) < target {
            assert!(
                self.lost.lock().unwrap().is_none(),
                "connection lost waiting for {what}: {:?}",
                self.lost.lock().unwrap()
            );
            assert!(Instant::now() < deadline, "no {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The error that ended the connection, if it ended.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap().clone()
    }

    /// Waits until a message with `payload` on `topic` arrived.
    pub async fn wait_for(&self, topic: &str, payload: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self
            .received()
            .iter()
            .any(|r| r.topic == topic && r.payload == payload)
        {
            assert!(self.lost().is_none(), "connection lost: {:?}", self.lost());
            assert!(
                Instant::now() < deadline,
                "{payload} on {topic} never arrived; received {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A network namespace of this test with veth pairs to this namespace,
/// deleted (with its interfaces) when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Makes the namespace `name` with its loopback up; fails the test with
    /// what to do if namespaces cannot be made here.
    pub fn new(name: &str) -> Netns {
        // A namespace left by a killed earlier run of the same name.
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        let out = Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .expect(
                "iproute2's ip is missing: run scripts/install-deps.sh (Debian package iproute2)",
            );
        assert!(
            out.status.success(),
            "cannot make a network namespace (ip netns add {name}): {}; \
             this test needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let netns = Netns { name: name.into() };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// `ip -n NAME ARGS…`.
    pub fn ip(&self, args: &[&str]) {
        run_ok(
            Command::new("ip")
                .args(["-n", self.name.as_str()])
                .args(args),
        );
    }

    /// A veth pair: `outer` here with `outer_address`, `inner` in the
    /// namespace with `inner_address` (both CIDR), both up.
    pub fn link(&self, outer: &str, inner: &str, outer_address: &str, inner_address: &str) {
        run_ok(Command::new("ip").args([
            "link",
            "add",
            outer,
            "type",
            "veth",
            "peer",
            "name",
            inner,
            "netns",
            self.name.as_str(),
        ]));
        run_ok(Command::new("ip").args(["addr", "add", outer_address, "dev", outer]));
        run_ok(Command::new("ip").args(["link", "set", outer, "up"]));
        self.ip(&["addr", "add", inner_address, "dev", inner]);
        self.ip(&["link", "set", inner, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth ends, and with them their peers here.
        let _ = Command::new("ip")
            .args(["netns", "del", self.name.as_str()])
            .output();
    }
}

pub fn hub_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_regional-hub"))
}

/// `BINARY --db DB ARGS…` to completion; its stdout.
pub fn cli(binary: &Path, db: &Path, args: &[&str]) -> String {
    run_ok(Command::new(binary).arg("--db").arg(db).args(args))
}

/// Starts a server and returns it with its base URL, read from the
/// "listening on http://" line it logs.
pub fn serve(mut command: Command) -> (Process, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let stderr = child.stderr.take().expect("stderr");
    let process = Process(child);
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    // Keep draining, so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (process, format!("http://{address}"))
}

/// The depot binary on `db` as `depot`, publishing to `url` with its
/// client certificate (its CN is `identity`).
pub fn start_depot(
    binary: &Path,
    db: &Path,
    depot: &str,
    url: &str,
    pki: &Pki,
    identity: &str,
) -> (Process, String) {
    let mut command = Command::new(binary);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("DEPOT_ID", depot)
        .env("DEPOT_MQTT_URL", url)
        .env("DEPOT_MQTT_CA_FILE", pki.file("ca.crt"))
        .env("DEPOT_MQTT_CERT_FILE", pki.file(&format!("{identity}.crt")))
        .env("DEPOT_MQTT_KEY_FILE", pki.file(&format!("{identity}.key")))
        .env("DEPOT_MQTT_KEEP_ALIVE_S", "5")
        .env("DEPOT_GATEWAY", "off")
        .env("DEPOT_LOG", "info");
    serve(command)
}

/// The hub binary on `db`, subscribing to `url` as `identity`.
pub fn start_hub(db: &Path, url: &str, pki: &Pki, identity: &str) -> (Process, String) {
    let mut command = Command::new(hub_binary());
    command
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("HUB_MQTT_URL", url)
        .env("HUB_MQTT_CA_FILE", pki.file("ca.crt"))
        .env("HUB_MQTT_CERT_FILE", pki.file(&format!("{identity}.crt")))
        .env("HUB_MQTT_KEY_FILE", pki.file(&format!("{identity}.key")))
        .env("HUB_MQTT_CLIENT_ID", "hub-broker-test")
        .env("HUB_MQTT_KEEP_ALIVE_S", "5")
        .env("HUB_LOG", "info");
    serve(command)
}

pub async fn get(client: &Client, token: &str, url: &str) -> (u16, Value) {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `probe` until it returns `Some`, failing after `DEADLINE` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seeds the depot with an open article `ART-1`, a restricted `SECRET-1`
/// and a bin `B-1`, as `manager`.
pub async fn seed_depot(client: &Client, depot: &str, manager: &str) {
    for (path, body) in [
        (
            "/api/v1/articles",
            json!({"sku":"ART-1","name":"Article one","unit":"piece","unit_volume_ml":1000}),
        ),
        (
            "/api/v1/articles",
            json!({"sku":"SECRET-1","name":"Restricted","unit":"box","classification":"restricted"}),
        ),
        (
            "/api/v1/locations",
            json!({"code":"B-1","zone":"B","kind":"bin","capacity_volume_l":1000}),
        ),
    ] {
        let response = client
            .post(format!("{depot}{path}"))
            .bearer_auth(manager)
            .json(&body)
            .send()
            .await
            .expect("seed");
        assert_eq!(response.status(), 201, "seed {body}");
    }
}

/// Books a receipt of `quantity` of `sku` at B-1 under `key`; its seq.
pub async fn book(
    client: &Client,
    depot: &str,
    token: &str,
    key: &str,
    sku: &str,
    quantity: i64,
) -> i64 {
    let response = client
        .post(format!("{depot}/api/v1/movements"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"kind":"receive","sku":sku,"quantity":quantity,"to":"B-1"}))
        .send()
        .await
        .expect("book");
    assert_eq!(response.status(), 201, "booking {key}");
    let body: Value = response.json().await.expect("json");
    body["movements"][0]["seq"].as_i64().expect("seq")
}

/// The depot's total stock of `sku`.
pub async fn depot_total(client: &Client, depot: &str, token: &str, sku: &str) -> i64 {
    let (status, body) = get(client, token, &format!("{depot}/api/v1/stock?sku={sku}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["quantity"].as_i64().expect("quantity"))
        .sum()
}

/// The hub's total stock of `sku` as `token` sees it; `None` if 404.
pub async fn hub_total(client: &Client, hub: &str, token: &str, sku: &str) -> Option<i64> {
    let (status, body) = get(client, token, &format!("{hub}/api/v1/stock?sku={sku}")).await;
    (status == 200).then(|| body["total"].as_i64().expect("total"))
}

/// The hub's view of `depot` (`GET /api/v1/depots`), once it knows it.
pub async fn hub_depot(client: &Client, hub: &str, token: &str, depot: &str) -> Option<Value> {
    let (_, body) = get(client, token, &format!("{hub}/api/v1/depots")).await;
    body["depots"]
        .as_array()?
        .iter()
        .find(|d| d["depot"] == depot)
        .cloned()
}
