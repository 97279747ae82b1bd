//! Gate ingest end to end: pymodbus plays a gateway over Modbus TCP (a
//! third-party slave serving the register map of REGISTERS.md, with its
//! event ring, boot ids and faults on command), and the real gateway
//! firmware runs in QEMU (hil-tests' harness, emulated reader and scale) on
//! a pty as Modbus RTU; the real `depot-server` binary polls each, and the
//! ledger is read back through the API.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const INSTALL_HINT: &str = "run scripts/install-deps.sh to install Python's pymodbus";

/// The pymodbus gateway, driven by JSON lines.
struct Slave {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Slave {
    fn start() -> Slave {
        Slave::with(64, 1)
    }

    /// A slave whose gateways (unit ids 1..=`units`) hold `capacity` events each.
    fn with(capacity: usize, units: u8) -> Slave {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/modbus_gateway.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(capacity.to_string())
            .arg(units.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e} ({INSTALL_HINT})"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut slave = Slave {
            child,
            stdin,
            stdout,
            port,
        };
        let hello = slave.line();
        // The slave's map must be the one the server polls.
        use gateway_registers::{holding, input, MAP_VERSION};
        assert_eq!(
            hello,
            json!({"ok": true, "port": port, "map_version": MAP_VERSION,
                "input_len": input::LEN, "holding_len": holding::LEN,
                "input_boot_id": input::BOOT_ID, "holding_boot_id": holding::BOOT_ID,
                "ack_boot_id": holding::ACK_BOOT_ID}),
            "the test gateway's register map is stale"
        );
        slave
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the slave");
        assert!(
            !line.is_empty(),
            "the pymodbus gateway exited ({INSTALL_HINT})"
        );
        serde_json::from_str(&line).expect("a JSON line")
    }

    fn send(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").expect("write the slave");
        let answer = self.line();
        assert_eq!(answer["ok"], true, "{command} → {answer}");
        answer
    }

    fn events(&mut self, events: &[(u16, u16, &str)]) -> Value {
        self.unit_events(1, events)
    }

    fn unit_events(&mut self, unit: u8, events: &[(u16, u16, &str)]) -> Value {
        let events: Vec<Value> = events
            .iter()
            .map(|(gate, direction, epc)| json!({"gate": gate, "direction": direction, "epc": epc}))
            .collect();
        self.send(json!({"cmd": "events", "unit": unit, "events": events}))
    }

    fn state(&mut self) -> Value {
        self.unit_state(1)
    }

    fn unit_state(&mut self, unit: u8) -> Value {
        self.send(json!({"cmd": "state", "unit": unit}))
    }

    /// Waits until the ring is empty and everything stored is acknowledged.
    fn wait_drained(&mut self, within: Duration) -> Value {
        self.wait_unit_drained(1, within)
    }

    fn wait_unit_drained(&mut self, unit: u8, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let state = self.unit_state(unit);
            if state["count"] == 0 && state["acked"] == state["newest"] {
                return state;
            }
            assert!(Instant::now() < deadline, "ring not drained: {state}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Slave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary, its address and its log so far.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// The binary with the `gateway` shorthand.
    fn start(db: &Path, gateway: &str) -> Server {
        Server::start_with(db, &[], gateway)
    }

    /// The binary with extra arguments (e.g. `--config FILE`).
    fn start_with(db: &Path, args: &[&str], gateway: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
            .args(args)
            .args(["run", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .env("DEPOT_LOG", "info")
            .env("DEPOT_GATEWAY", gateway)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn depot-server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            assert!(Instant::now() < deadline, "server did not start");
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("read stderr");
            if let Some((_, rest)) = line.split_once("listening on http://") {
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
            base: format!("http://{address}"),
            log,
        }
    }

    fn logged(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(db: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The SGTIN-96 of serial `serial` of item reference `item`
/// (company prefix 0614141).
fn sgtin(item: u32, serial: u64) -> String {
    depot_server::epc::encode(&format!("urn:epc:tag:sgtin-96:3.0614141.{item}.{serial}"))
        .expect("encodes")
}

/// The GTIN-14 an SGTIN of item reference `item` names.
fn gtin_of(item: u32) -> String {
    depot_server::epc::parse(&sgtin(item, 1))
        .expect("sgtin")
        .gtin14
        .expect("gtin")
}

/// A depot with article ART-GATE (the GTIN of item reference 812345),
/// lot-tracked LOT-GATE (item reference 555555), docks DOCK-1 and DOCK-2
/// and a bin, and a manager; returns the manager's token.
fn seed(dir: &Path, db: &Path) -> String {
    let (gtin, lot_gtin) = (gtin_of(812_345), gtin_of(555_555));
    let articles = dir.join("articles.csv");
    std::fs::write(
        &articles,
        format!(
            "sku,name,unit,gtin,lot_tracked,unit_weight_g\nART-GATE,Gate article,piece,{gtin},false,25000\n\
             LOT-GATE,Lot-tracked gate article,box,{lot_gtin},true,1000\n"
        ),
    )
    .expect("csv");
    let locations = dir.join("locations.csv");
    std::fs::write(
        &locations,
        "code,zone,kind\nDOCK-1,D,dock\nDOCK-2,D,dock\nB-1,B,bin\n",
    )
    .expect("csv");
    cli(
        db,
        &["import", "articles", articles.to_str().expect("path")],
    );
    cli(
        db,
        &["import", "locations", locations.to_str().expect("path")],
    );
    cli(
        db,
        &["user", "add", "boss", "--role", "manager", "--restricted"],
    )
}

async fn get(base: &str, token: &str, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

/// Stock of ART-GATE per location.
async fn stock(base: &str, token: &str) -> Vec<(String, i64)> {
    let report = get(base, token, "/api/v1/stock?sku=ART-GATE").await;
    let mut lines: Vec<(String, i64)> = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["location"].as_str().expect("location").to_owned(),
                i["quantity"].as_i64().expect("qty"),
            )
        })
        .collect();
    lines.sort();
    lines
}

async fn passes(base: &str, token: &str) -> Vec<Value> {
    get(base, token, "/api/v1/gates/passes?limit=1000").await["passes"]
        .as_array()
        .expect("passes")
        .clone()
}

async fn movements(base: &str, token: &str) -> Vec<Value> {
    get(base, token, "/api/v1/movements?limit=1000").await["movements"]
        .as_array()
        .expect("movements")
        .clone()
}

/// Each (boot, seq) appears once among the passes, and each pass's outcome.
fn outcomes(passes: &[Value]) -> Vec<(u64, u64, String)> {
    let mut seen = std::collections::BTreeSet::new();
    passes
        .iter()
        .map(|p| {
            let key = (
                p["boot_id"].as_u64().expect("boot"),
                p["seq"].as_u64().expect("seq"),
            );
            assert!(seen.insert(key), "pass {key:?} stored twice");
            (
                key.0,
                key.1,
                p["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_over_modbus_tcp_has_each_pass_booked_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let mut slave = Slave::start();
    let server = Server::start(&db, &format!("tcp:127.0.0.1:{}", slave.port));
    let (serial, unknown_article) = (|n| sgtin(812_345, n), sgtin(712_345, 1));
    let (in_, out, unknown) = (1, 2, 0);
    // Ten in at gate 0 (DOCK-1), two in at gate 1 (DOCK-2), three of them
    // out again, one pass of unknown direction, an EPC of no known article,
    // an out of an item the depot never held, and a gate with no dock.
    let mut events: Vec<(u16, u16, String)> = (1..=10).map(|n| (0, in_, serial(n))).collect();
    events.extend([(1, in_, serial(11)), (1, in_, serial(12))]);
    events.extend((1..=3).map(|n| (0, out, serial(n))));
    events.extend([
        (0, unknown, serial(13)),
        (0, in_, unknown_article.clone()),
        (1, out, serial(99)),
        (7, in_, serial(14)),
    ]);
    let refs: Vec<(u16, u16, &str)> = events
        .iter()
        .map(|(g, d, e)| (*g, *d, e.as_str()))
        .collect();
    slave.events(&refs);
    let drained = slave.wait_drained(Duration::from_secs(30));
    assert_eq!(drained["acked"], events.len());
    assert_eq!(drained["named"], 1, "the server named the boot once");

    assert_eq!(
        stock(&server.base, &boss).await,
        [("DOCK-1".to_owned(), 7), ("DOCK-2".to_owned(), 2)]
    );
    let ledger = movements(&server.base, &boss).await;
    assert_eq!(ledger.len(), 15, "12 receipts and 3 issues");
    assert!(ledger
        .iter()
        .all(|m| m["source"] == "gate" && m["actor"] == "gateway:gateway-1"));
    let recorded = passes(&server.base, &boss).await;
    let outcome: Vec<String> = outcomes(&recorded).into_iter().map(|(_, _, o)| o).collect();
    let mut want = vec!["booked"; 15];
    want.extend(["not_booked", "unidentified", "flagged", "flagged"]);
    assert_eq!(outcome, want);
    assert_eq!(recorded[0]["dock"], "DOCK-1");
    assert_eq!(recorded[0]["weight_grams"], 25_000);
    assert_eq!(
        recorded[17]["detail"],
        format!(
            "item {} is not held by the depot",
            depot_server::epc::parse(&serial(99)).unwrap().id
        )
    );
    assert_eq!(recorded[18]["detail"], "the gate has no dock location");
    // The gateway as the API shows it: its status block, its rate, and each
    // configured gate's newest pass.
    let gates = get(&server.base, &boss, "/api/v1/gates").await;
    let gateway = &gates["gateways"][0];
    assert_eq!(gateway["status"]["firmware_version"], "1.2.3", "{gates}");
    assert!(
        gateway["status"]["frames_ok"].as_u64().unwrap() > 0,
        "{gates}"
    );
    assert_eq!(gateway["status"]["crc_errors"], 0, "{gates}");
    let rate = gateway["events_per_s"].as_f64().unwrap();
    assert!(
        (rate - events.len() as f64 / 60.0).abs() < 1e-9,
        "every pass of this minute counts: {gates}"
    );
    assert_eq!(gateway["gates"][0]["dock"], "DOCK-1", "{gates}");
    assert_eq!(
        gateway["gates"][0]["last_pass"]["epc_hex"],
        unknown_article.to_uppercase(),
        "gate 0's newest pass: {gates}"
    );
    assert_eq!(gateway["gates"][0]["last_pass"]["outcome"], "unidentified");
    assert_eq!(gateway["gates"][1]["dock"], "DOCK-2");
    assert_eq!(gateway["gates"][1]["last_pass"]["outcome"], "flagged");
    assert_eq!(gateway["gates"].as_array().unwrap().len(), 2, "{gates}");

    // kill -9 and a restart: the ring is empty and nothing is booked again;
    // what comes next is booked once.
    server.kill();
    slave.events(&[(0, out, &serial(4))]);
    let server = Server::start(&db, &format!("tcp:127.0.0.1:{}", slave.port));
    let drained = slave.wait_drained(Duration::from_secs(30));
    assert_eq!(drained["acked"], events.len() + 1);
    assert_eq!(drained["named"], 1, "the same boot, not renamed");
    assert_eq!(movements(&server.base, &boss).await.len(), 16);
    assert_eq!(
        stock(&server.base, &boss).await,
        [("DOCK-1".to_owned(), 6), ("DOCK-2".to_owned(), 2)]
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("depot_gate_passes_stored_total{gateway=\"gateway-1\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("depot_gate_online{gateway=\"gateway-1\"} 1\n"),
        "{metrics}"
    );
}

/// A slave that times out, answers exceptions, returns a malformed window,
/// disappears and returns, and restarts with its seq back at 1: nothing
/// lost, nothing booked twice, the gate state right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_gateway_loses_nothing_and_books_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let mut slave = Slave::start();
    let server = Server::start(&db, &format!("tcp:127.0.0.1:{}", slave.port));
    let mut booked_in = 0;
    // `count` new items in through gate 0, serials following the last ones.
    let pass_in = |slave: &mut Slave, booked_in: &mut u64, count: u64| {
        let epcs: Vec<String> = (*booked_in + 1..=*booked_in + count)
            .map(|n| sgtin(812_345, n))
            .collect();
        *booked_in += count;
        let refs: Vec<(u16, u16, &str)> = epcs.iter().map(|e| (0, 1, e.as_str())).collect();
        slave.events(&refs);
    };

    // Timeouts: the server gives up on the reply, reconnects, reads again.
    pass_in(&mut slave, &mut booked_in, 6);
    slave.send(json!({"cmd": "fault", "kind": "timeout", "count": 2}));
    slave.wait_drained(Duration::from_secs(30));
    // Exceptions, on reads and on acknowledgements.
    pass_in(&mut slave, &mut booked_in, 6);
    slave.send(json!({"cmd": "fault", "kind": "exception", "count": 5}));
    slave.wait_drained(Duration::from_secs(30));
    // Malformed windows: nothing of them is stored.
    slave.send(json!({"cmd": "fault", "kind": "malformed", "count": 3}));
    pass_in(&mut slave, &mut booked_in, 6);
    slave.wait_drained(Duration::from_secs(30));
    // The gateway disappears (events pile up) and returns.
    slave.send(json!({"cmd": "down"}));
    pass_in(&mut slave, &mut booked_in, 9);
    // The timeouts above may already have logged "gateway offline" once, so
    // wait for the state the API reports, not for a log line.
    let offline = Instant::now() + Duration::from_secs(20);
    loop {
        let down = get(&server.base, &boss, "/api/v1/gates").await;
        if down["gateways"][0]["state"] == "offline" {
            break;
        }
        assert!(
            Instant::now() < offline,
            "the server never showed the gateway offline: {down}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.logged("gateway offline") > 0,
        "going offline is logged"
    );
    slave.send(json!({"cmd": "up"}));
    let before_restart = slave.wait_drained(Duration::from_secs(30));
    assert_eq!(before_restart["acked"], booked_in);
    // A restart: seq back at 1, boot id 0. New events, not replays.
    slave.send(json!({"cmd": "restart"}));
    let first_boot = before_restart["boot_id"].as_u64().unwrap();
    pass_in(&mut slave, &mut booked_in, 5);
    let after = slave.wait_drained(Duration::from_secs(30));
    assert_eq!(after["acked"], 5, "the new boot drained from seq 1");
    assert_ne!(after["boot_id"].as_u64().unwrap(), first_boot);

    assert_eq!(
        stock(&server.base, &boss).await,
        [("DOCK-1".to_owned(), i64::try_from(booked_in).unwrap())]
    );
    let recorded = passes(&server.base, &boss).await;
    let all = outcomes(&recorded);
    assert_eq!(all.len() as u64, booked_in);
    assert!(all.iter().all(|(_, _, o)| o == "booked"), "{all:?}");
    assert_eq!(
        all.iter()
            .filter(|(boot, _, _)| *boot == first_boot)
            .count(),
        27
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let figure = |name: &str| -> u64 {
        let prefix = format!("{name}{{gateway=\"gateway-1\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .parse()
            .expect("a number")
    };
    // What the gateway says of its line comes with its status block, read
    // again every 10 s.
    slave.send(json!({"cmd": "noise", "count": 4}));
    let deadline = Instant::now() + Duration::from_secs(25);
    let gateway = loop {
        let gates = get(&server.base, &boss, "/api/v1/gates").await;
        if gates["gateways"][0]["status"]["crc_errors"] == 4 {
            break gates["gateways"][0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the gateway's CRC errors never showed: {gates}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(gateway["exceptions"].as_u64().unwrap() >= 5, "{gateway}");
    assert_eq!(
        gateway["status"]["exceptions_sent"], 0,
        "the gateway's counters run from its boot: {gateway}"
    );
    assert_eq!(gateway["malformed"], 3, "{gateway}");
    assert!(gateway["link_errors"].as_u64().unwrap() >= 2, "{gateway}");
    let now = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        now.contains("depot_gate_gateway_crc_errors{gateway=\"gateway-1\"} 4\n"),
        "{now}"
    );
    assert!(figure("depot_gate_link_errors_total") >= 2, "{metrics}");
    assert!(figure("depot_gate_exceptions_total") >= 5, "{metrics}");
    assert_eq!(figure("depot_gate_malformed_total"), 3, "{metrics}");
    assert_eq!(figure("depot_gate_boots_total"), 2, "{metrics}");
    assert_eq!(figure("depot_gate_events_lost_total"), 0, "{metrics}");
    assert_eq!(figure("depot_gate_online"), 1, "{metrics}");
    assert_eq!(
        figure("depot_gate_passes_stored_total"),
        booked_in,
        "{metrics}"
    );
}

/// Two gateways behind one transport, configured as `[[gateways]]` with
/// their own unit ids and docks: polled in turn, each with its own boot and
/// cursor, each pass booked once to its gateway's dock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_sharing_a_line_are_polled_in_turn_with_their_own_docks() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let mut slave = Slave::with(64, 2);
    let config = dir.path().join("depot.toml");
    let transport = format!("tcp:127.0.0.1:{}", slave.port);
    std::fs::write(
        &config,
        format!(
            "[[gateways]]\nid = \"north\"\ntransport = \"{transport}\"\ndocks = [\"DOCK-1\"]\n\n\
             [[gateways]]\nid = \"south\"\ntransport = \"{transport}\"\nunit_id = 2\ndocks = [\"DOCK-2\"]\n"
        ),
    )
    .unwrap();
    let server = Server::start_with(&db, &["--config", config.to_str().unwrap()], "sim");
    let north: Vec<String> = (1..=9).map(|n| sgtin(812_345, n)).collect();
    let south: Vec<String> = (101..=106).map(|n| sgtin(812_345, n)).collect();
    let refs = |epcs: &[String]| -> Vec<(u16, u16, String)> {
        epcs.iter().map(|e| (0, 1, e.clone())).collect()
    };
    for (unit, events) in [(1, refs(&north)), (2, refs(&south))] {
        let events: Vec<(u16, u16, &str)> = events
            .iter()
            .map(|(g, d, e)| (*g, *d, e.as_str()))
            .collect();
        slave.unit_events(unit, &events);
    }
    let north_state = slave.wait_unit_drained(1, Duration::from_secs(30));
    let south_state = slave.wait_unit_drained(2, Duration::from_secs(30));
    assert_eq!(
        (north_state["acked"].as_u64(), south_state["acked"].as_u64()),
        (Some(9), Some(6))
    );
    assert_ne!(north_state["boot_id"], south_state["boot_id"]);
    assert_eq!(
        stock(&server.base, &boss).await,
        [("DOCK-1".to_owned(), 9), ("DOCK-2".to_owned(), 6)]
    );
    let recorded = passes(&server.base, &boss).await;
    let by_gateway = |id: &str| recorded.iter().filter(|p| p["gateway"] == id).count();
    assert_eq!((by_gateway("north"), by_gateway("south")), (9, 6));
    let gates = get(&server.base, &boss, "/api/v1/gates").await;
    let states: Vec<(&str, &str)> = gates["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("north", "online"), ("south", "online")]);
}

/// `kill -9` of the server at random instants while it drains a gateway
/// with a backlog: after the restarts every event is booked once and the
/// ring is drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_draining_a_backlog_books_every_event_once() {
    use rand::Rng;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let mut slave = Slave::with(512, 1);
    let backlog = 400;
    let epcs: Vec<String> = (1..=backlog).map(|n| sgtin(812_345, n)).collect();
    let refs: Vec<(u16, u16, &str)> = epcs.iter().map(|e| (0, 1, e.as_str())).collect();
    slave.events(&refs);
    let transport = format!("tcp:127.0.0.1:{}", slave.port);
    let mut kills = 0;
    let mut acked_before = 0;
    while kills < 4 {
        let server = Server::start(&db, &transport);
        // Let it get going, then kill it at a random instant.
        let deadline = Instant::now() + Duration::from_secs(30);
        while slave.state()["acked"].as_u64().unwrap() == acked_before {
            assert!(Instant::now() < deadline, "no progress after restart");
            std::thread::sleep(Duration::from_millis(5));
        }
        let wait = rand::thread_rng().gen_range(0..150);
        std::thread::sleep(Duration::from_millis(wait));
        server.kill();
        kills += 1;
        acked_before = slave.state()["acked"].as_u64().unwrap();
        if acked_before == backlog {
            break;
        }
    }
    assert!(
        kills >= 2,
        "the backlog drained before the second kill: make it larger"
    );
    let server = Server::start(&db, &transport);
    let drained = slave.wait_drained(Duration::from_secs(60));
    assert_eq!(drained["acked"], backlog);
    assert_eq!(drained["named"], 1);
    assert_eq!(
        stock(&server.base, &boss).await,
        [("DOCK-1".to_owned(), i64::try_from(backlog).unwrap())]
    );
    assert_eq!(movements(&server.base, &boss).await.len() as u64, backlog);
    let recorded = passes(&server.base, &boss).await;
    let seqs: Vec<u64> = outcomes(&recorded)
        .into_iter()
        .map(|(_, seq, _)| seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=backlog).collect::<Vec<_>>(),
        "each event once, in order"
    );
}

/// The real firmware in QEMU, tags passing its gate in both directions, the
/// real server polling it as RTU master over the pty: each item booked once
/// in the right direction, stock right, the scale's weight on each pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firmware_in_qemu_is_drained_over_rtu_and_each_pass_booked_once() {
    use hil_tests::reader::{test_epc, Pass, Reader};
    use hil_tests::{modbus::Master, scale::Scale, Gateway};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let gateway = Gateway::boot();
    let reader = Reader::start(&gateway.reader_pty);
    let _scale = Scale::start(&gateway.scale_pty, "S S      25.000 kg");
    reader.wait_reading();
    {
        // A dedup window that closes passes soon, set before the server
        // takes the line (QEMU hands pty bytes over slowly: see hil-tests).
        let mut setup = Master::open(&gateway.modbus_pty);
        setup.wait_link();
        setup.write_holding(gateway_registers::holding::DEDUP_WINDOW_MS, &[1_500]);
    }
    let server = Server::start(&db, &format!("rtu:{}?baud=115200", gateway.modbus_pty));
    let inbound: Vec<Vec<u8>> = (1..=12).map(|n| test_epc(n).to_vec()).collect();
    reader.pass(&inbound, Pass::In, 3);
    let wait_stock = |want: Vec<(String, i64)>| {
        let (base, boss) = (server.base.clone(), boss.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let now = stock(&base, &boss).await;
                if now == want {
                    return;
                }
                assert!(Instant::now() < deadline, "stock {now:?}, want {want:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_stock(vec![("DOCK-1".into(), 12)]).await;
    let outbound: Vec<Vec<u8>> = (1..=5).map(|n| test_epc(n).to_vec()).collect();
    reader.pass(&outbound, Pass::Out, 3);
    wait_stock(vec![("DOCK-1".into(), 7)]).await;

    let ledger = movements(&server.base, &boss).await;
    let kinds: Vec<&str> = ledger.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    let mut want = vec!["receive"; 12];
    want.extend(["issue"; 5]);
    assert_eq!(kinds, want, "each item once, in its direction");
    let recorded = passes(&server.base, &boss).await;
    assert_eq!(outcomes(&recorded).len(), 17);
    for pass in &recorded {
        assert_eq!(pass["outcome"], "booked", "{pass}");
        assert_eq!(pass["weight_grams"], 25_000, "{pass}");
        let serial = pass["epc"].as_str().unwrap().rsplit('.').next().unwrap();
        let want = if pass["seq"].as_u64().unwrap() <= 12 {
            "in"
        } else {
            "out"
        };
        assert_eq!(pass["direction"], want, "serial {serial}");
    }
    assert!(recorded.iter().all(|p| p["dock"] == "DOCK-1"));
}

async fn post(base: &str, token: &str, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Passes that wait for a manager (an EPC of no known article, a lot-tracked
/// article with no lot) are listed, and a manager's word books each once:
/// resolving again answers the same movements and books nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_passes_are_listed_and_booked_once_by_a_managers_word() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let staff = cli(&db, &["user", "add", "hand", "--role", "staff"]);
    let mut slave = Slave::start();
    let server = Server::start(&db, &format!("tcp:127.0.0.1:{}", slave.port));
    let base = server.base.as_str();
    let (stranger, lotted, known) = (sgtin(999_999, 1), sgtin(555_555, 1), sgtin(812_345, 1));
    // in at DOCK-1: no article, lot-tracked, booked; out: no article.
    slave.events(&[
        (0, 1, &stranger),
        (1, 1, &lotted),
        (0, 1, &known),
        (0, 2, &sgtin(999_999, 2)),
    ]);
    slave.wait_drained(Duration::from_secs(30));

    let waiting = get(base, &boss, "/api/v1/gates/unresolved").await["passes"].clone();
    let waiting = waiting.as_array().unwrap();
    let what: Vec<(&str, &str, Option<&str>)> = waiting
        .iter()
        .map(|p| {
            (
                p["outcome"].as_str().unwrap(),
                p["waiting_for"].as_str().unwrap(),
                p["sku"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        what,
        [
            ("unidentified", "article", None),
            ("awaiting_lot", "lot", Some("LOT-GATE"))
        ],
        "{waiting:?}"
    );
    let (unknown_id, lot_id) = (
        waiting[0]["id"].as_i64().unwrap(),
        waiting[1]["id"].as_i64().unwrap(),
    );
    let resolution = |id: i64| format!("/api/v1/gates/passes/{id}/resolution");

    // Managers only; the right fields.
    let answer = post(
        base,
        &staff,
        &resolution(unknown_id),
        &json!({"sku": "ART-GATE"}),
    )
    .await;
    assert_eq!(answer.status(), 403);
    let answer = post(base, &boss, &resolution(unknown_id), &json!({})).await;
    assert_eq!(answer.status(), 422);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "sku", "{problem}");
    let answer = post(
        base,
        &boss,
        &resolution(unknown_id),
        &json!({"sku": "NO-SUCH"}),
    )
    .await;
    assert_eq!(answer.status(), 422);
    let answer = post(
        base,
        &boss,
        &resolution(unknown_id),
        &json!({"sku": "ART-GATE", "x": 1}),
    )
    .await;
    assert_eq!(answer.status(), 422);
    let answer = post(base, &boss, &resolution(lot_id), &json!({})).await;
    assert_eq!(answer.status(), 422);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "lot", "{problem}");
    let answer = post(
        base,
        &boss,
        "/api/v1/gates/passes/999999/resolution",
        &json!({"sku": "ART-GATE"}),
    )
    .await;
    assert_eq!(answer.status(), 404);
    let answer = post(
        base,
        &boss,
        "/api/v1/gates/passes/abc/resolution",
        &json!({"sku": "ART-GATE"}),
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert_eq!(
        movements(base, &boss).await.len(),
        1,
        "nothing booked by a refusal"
    );

    // The unidentified pass, named ART-GATE: its item received at DOCK-1.
    let first = post(
        base,
        &boss,
        &resolution(unknown_id),
        &json!({"sku": "ART-GATE"}),
    )
    .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let moved = &first["movements"][0];
    assert_eq!(
        (
            &moved["kind"],
            &moved["sku"],
            &moved["to"],
            &moved["source"],
            &moved["actor"]
        ),
        (
            &json!("receive"),
            &json!("ART-GATE"),
            &json!("DOCK-1"),
            &json!("gate"),
            &json!("boss")
        )
    );
    let stranger_id = depot_server::epc::parse(&stranger).unwrap().id;
    assert_eq!(moved["epcs"], json!([stranger_id]));
    // Again: the same answer, nothing booked.
    let again = post(
        base,
        &boss,
        &resolution(unknown_id),
        &json!({"sku": "ART-GATE"}),
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // Otherwise: a conflict.
    let other = post(
        base,
        &boss,
        &resolution(unknown_id),
        &json!({"sku": "LOT-GATE", "lot": "L1"}),
    )
    .await;
    assert_eq!(other.status(), 409);

    // The lot-tracked pass, given its lot.
    let answer = post(
        base,
        &boss,
        &resolution(lot_id),
        &json!({"lot": "L-2026-12"}),
    )
    .await;
    assert_eq!(answer.status(), 201);
    let lot_moves: Value = answer.json().await.unwrap();
    assert_eq!(lot_moves["movements"][0]["lot"], "L-2026-12");
    assert_eq!(lot_moves["movements"][0]["to"], "DOCK-2");
    let answer = post(
        base,
        &boss,
        &resolution(lot_id),
        &json!({"lot": "L-2026-12"}),
    )
    .await;
    assert_eq!(answer.headers()["idempotency-replayed"], "true");

    // A booked pass waits for nothing.
    let recorded = passes(base, &boss).await;
    let booked_id = recorded[2]["id"].as_i64().unwrap();
    let answer = post(
        base,
        &boss,
        &resolution(booked_id),
        &json!({"sku": "ART-GATE"}),
    )
    .await;
    assert_eq!(answer.status(), 409);
    // An unidentified pass going out is a record only.
    assert_eq!(recorded[3]["outcome"], "flagged");

    assert_eq!(movements(base, &boss).await.len(), 3);
    let empty = get(base, &boss, "/api/v1/gates/unresolved").await;
    assert_eq!(empty["passes"], json!([]));
    assert_eq!(recorded[0]["resolution"]["sku"], "ART-GATE");
    assert_eq!(recorded[0]["resolution"]["by"], "boss");
    assert_eq!(
        recorded[0]["resolution"]["movement_seqs"],
        json!([first["movements"][0]["seq"]])
    );
    assert_eq!(recorded[1]["resolution"]["lot"], "L-2026-12");
    assert!(recorded[0].get("waiting_for").is_none());
    assert_eq!(
        stock(base, &boss).await,
        [("DOCK-1".to_owned(), 2)],
        "the known item and the resolved one"
    );
    let lot_stock = get(base, &boss, "/api/v1/stock?sku=LOT-GATE").await;
    assert_eq!(lot_stock["items"][0]["lot"], "L-2026-12");
    assert_eq!(lot_stock["items"][0]["quantity"], 1);
}

/// An expected delivery at DOCK-1 (items by EPC, one of a lot-tracked
/// article with its lot, and a count of an article): the gate's receipts
/// at that dock are matched against it, the lot-tracked item takes the
/// notice's lot, and the delivery shows what was received, what is missing
/// and what came unexpected, until everything arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_reconciled_against_the_gate_and_gives_lots() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let staff = cli(&db, &["user", "add", "hand", "--role", "staff"]);
    let mut slave = Slave::start();
    let server = Server::start(&db, &format!("tcp:127.0.0.1:{}", slave.port));
    let base = server.base.as_str();
    let id = |hex: &str| depot_server::epc::parse(hex).unwrap().id;
    let (first, lotted, late) = (sgtin(812_345, 1), sgtin(555_555, 1), sgtin(812_345, 50));
    // An item of a GTIN no article has: unidentified at the gate, expected here.
    let stranger = sgtin(999_999, 1);
    let notice = json!({"reference": "ASN-1", "dock": "DOCK-1", "expected": [
        {"epc": first}, {"epc": lotted, "lot": "L-ASN"},
        {"sku": "ART-GATE", "quantity": 3}, {"epc": late}, {"epc": stranger}]});

    // Managers only, and every bad entry named.
    assert_eq!(
        post(base, &staff, "/api/v1/deliveries", &notice)
            .await
            .status(),
        403
    );
    let bad = json!({"reference": "ASN 2", "dock": "B-1", "expected": [
        {"sku": "NO-SUCH", "quantity": 1}, {"sku": "ART-GATE"}, {"epc": "zz"}]});
    let answer = post(base, &boss, "/api/v1/deliveries", &bad).await;
    assert_eq!(answer.status(), 422);
    let problem: Value = answer.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["reference", "expected", "expected"], "{problem}");
    for (expected, why) in [
        (
            json!([{"sku": "ART-GATE", "quantity": 1, "lot": "L1"}]),
            "not lot-tracked",
        ),
        (json!([{"sku": "LOT-GATE", "quantity": 1}]), "lot-tracked"),
        (json!([{"epc": first}, {"epc": id(&first)}]), "twice"),
        (json!([]), "1 to"),
    ] {
        let body = json!({"reference": "ASN-2", "dock": "DOCK-1", "expected": expected});
        let answer = post(base, &boss, "/api/v1/deliveries", &body).await;
        assert_eq!(answer.status(), 422, "{body}");
        let problem: Value = answer.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
    let to_a_bin = json!({"reference": "ASN-2", "dock": "B-1", "expected": [{"epc": first}]});
    let answer = post(base, &boss, "/api/v1/deliveries", &to_a_bin).await;
    assert_eq!(answer.status(), 422);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["errors"][0]["field"],
        "dock"
    );

    let created = post(base, &boss, "/api/v1/deliveries", &notice).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (
            &created["state"],
            created["missing"].as_array().unwrap().len()
        ),
        (&json!("open"), 5)
    );
    // The same notice again is no error; another one under its reference is.
    assert_eq!(
        post(base, &boss, "/api/v1/deliveries", &notice)
            .await
            .status(),
        200
    );
    let other = json!({"reference": "ASN-1", "dock": "DOCK-2", "expected": [{"epc": first}]});
    assert_eq!(
        post(base, &boss, "/api/v1/deliveries", &other)
            .await
            .status(),
        409
    );

    // In at DOCK-1: the expected EPC, the lot-tracked one, three of the
    // count, one too many, a lot-tracked item nobody expected; one at DOCK-2.
    let extra = sgtin(812_345, 5);
    slave.events(&[
        (0, 1, &first),
        (0, 1, &lotted),
        (0, 1, &sgtin(812_345, 2)),
        (0, 1, &sgtin(812_345, 3)),
        (0, 1, &sgtin(812_345, 4)),
        (0, 1, &extra),
        (0, 1, &sgtin(555_555, 2)),
        (1, 1, &sgtin(812_345, 6)),
        (0, 1, &stranger),
    ]);
    slave.wait_drained(Duration::from_secs(30));
    // A manager names the stranger's article: received against the notice.
    let waiting = get(base, &boss, "/api/v1/gates/unresolved").await;
    let unknown = waiting["passes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["waiting_for"] == "article")
        .expect("the stranger waits")["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/gates/passes/{unknown}/resolution");
    let resolved = post(base, &boss, &path, &json!({"sku": "ART-GATE"})).await;
    assert_eq!(resolved.status(), 201);
    let asn = get(base, &boss, "/api/v1/deliveries/ASN-1").await;
    assert_eq!(asn["state"], "open", "{asn}");
    let received: Vec<(i64, i64)> = asn["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["received"].as_i64().unwrap(),
                l["missing"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(received, [(1, 0), (1, 0), (3, 0), (0, 1), (1, 0)], "{asn}");
    assert_eq!(
        asn["missing"],
        json!([{"line": 4, "epc": id(&late), "quantity": 1, "received": 0, "missing": 1}])
    );
    assert_eq!(asn["received"].as_array().unwrap().len(), 6, "{asn}");
    assert_eq!(asn["received"][1]["lot"], "L-ASN");
    let unexpected: Vec<&str> = asn["unexpected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["epc"].as_str().unwrap())
        .collect();
    assert_eq!(
        unexpected,
        [id(&extra)],
        "the lot-tracked stranger waits for its lot: not received"
    );
    let lot_stock = get(base, &boss, "/api/v1/stock?sku=LOT-GATE").await;
    assert_eq!(
        lot_stock["items"],
        json!([{"sku": "LOT-GATE", "location": "DOCK-1", "zone": "D", "lot": "L-ASN", "quantity": 1}])
    );
    let waiting = get(base, &boss, "/api/v1/gates/unresolved").await;
    assert_eq!(waiting["passes"].as_array().unwrap().len(), 1, "{waiting}");

    // The last expected item: complete, and closed to what comes after.
    slave.events(&[(0, 1, &late), (0, 1, &sgtin(812_345, 7))]);
    slave.wait_drained(Duration::from_secs(30));
    let asn = get(base, &boss, "/api/v1/deliveries/ASN-1").await;
    assert_eq!(asn["state"], "complete", "{asn}");
    assert!(asn["completed_at"].is_string());
    assert_eq!(asn["missing"], json!([]));
    assert_eq!(asn["received"].as_array().unwrap().len(), 7);
    assert_eq!(asn["unexpected"].as_array().unwrap().len(), 1);
    let staff_view = get(base, &staff, "/api/v1/deliveries/ASN-1").await;
    assert_eq!(staff_view["state"], "complete");
    let missing = reqwest::Client::new()
        .get(format!("{base}/api/v1/deliveries/ASN-9"))
        .bearer_auth(&boss)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A delivery that stays short is closed by a manager: what comes after
    // at the dock is no longer matched against it, what did not come stays
    // missing, and closing again changes nothing.
    let (came, never) = (sgtin(812_345, 60), sgtin(812_345, 61));
    let short = json!({"reference": "ASN-2", "dock": "DOCK-1", "expected": [
        {"epc": came}, {"epc": never}]});
    assert_eq!(
        post(base, &boss, "/api/v1/deliveries", &short)
            .await
            .status(),
        201
    );
    slave.events(&[(0, 1, &came)]);
    slave.wait_drained(Duration::from_secs(30));
    let close = "/api/v1/deliveries/ASN-2/close";
    assert_eq!(post(base, &staff, close, &json!({})).await.status(), 403);
    let closed = post(base, &boss, close, &json!({})).await;
    assert_eq!(closed.status(), 200);
    let closed: Value = closed.json().await.unwrap();
    assert_eq!(closed["state"], "closed", "{closed}");
    assert!(closed["completed_at"].is_string());
    assert_eq!(closed["missing"].as_array().unwrap().len(), 1, "{closed}");
    assert_eq!(closed["missing"][0]["epc"], id(&never));
    slave.events(&[(0, 1, &never)]);
    slave.wait_drained(Duration::from_secs(30));
    let again: Value = post(base, &boss, close, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, closed, "closed, unchanged by what came after");
    let unknown = post(base, &boss, "/api/v1/deliveries/ASN-9/close", &json!({})).await;
    assert_eq!(unknown.status(), 404);
}

/// The scale's weight (25 kg from the pymodbus gateway) against the unit
/// weights of the passes through the gate in the window: a pass whose
/// weight does not fit is flagged on its record, in the API and in
/// `/metrics`; one of no known weight is not judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_whose_weight_does_not_fit_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    let config = dir.path().join("depot.toml");
    // The test gateway's events are 100 ms apart: a window of 0 weighs each
    // pass alone.
    std::fs::write(
        &config,
        "gate_weight_window_ms = 0\ngate_weight_tolerance_g = 100\ngate_weight_tolerance_pct = 1\n",
    )
    .unwrap();
    let mut slave = Slave::start();
    let transport = format!("tcp:127.0.0.1:{}", slave.port);
    let server = Server::start_with(&db, &["--config", config.to_str().unwrap()], &transport);
    // ART-GATE weighs 25 kg a piece, LOT-GATE 1 kg, the stranger nothing known.
    slave.events(&[
        (0, 1, &sgtin(812_345, 1)),
        (1, 1, &sgtin(555_555, 1)),
        (0, 1, &sgtin(999_999, 1)),
    ]);
    slave.wait_drained(Duration::from_secs(30));
    let recorded = passes(&server.base, &boss).await;
    let checks: Vec<(&Value, &Value)> = recorded
        .iter()
        .map(|p| (&p["weight_check"], &p["expected_weight_grams"]))
        .collect();
    assert_eq!(
        checks,
        [
            (&json!("plausible"), &json!(25_000)),
            (&json!("implausible"), &json!(1_000)),
            (&Value::Null, &Value::Null)
        ],
        "{recorded:?}"
    );
    assert_eq!(recorded[1]["weight_grams"], 25_000);
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("depot_gate_weight_implausible_total{gateway=\"gateway-1\"} 1\n"),
        "{metrics}"
    );
}

/// The real `demo`, killed when dropped.
struct Demo {
    child: Child,
    base: String,
    manager: String,
}

impl Demo {
    /// Starts `demo` on a fresh database with a pass every `pass_ms`, and
    /// reads its address and the manager's token from what it prints.
    fn start(db: &Path, pass_ms: u64) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0", "demo"])
            .env("DEPOT_LOG", "warn")
            .env("DEPOT_SIM_PASS_INTERVAL_MS", pass_ms.to_string())
            .env_remove("DEPOT_GATEWAY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn demo");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut base, mut manager) = (String::new(), String::new());
        for line in lines.by_ref().map_while(Result::ok) {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("API:") {
                let api = rest.split_whitespace().next().unwrap_or("");
                base = api.trim_end_matches("/api/v1/").to_owned();
            }
            if line.starts_with("demo-manager") {
                manager = line.split_whitespace().nth(2).unwrap_or("").to_owned();
            }
            if line.starts_with("Try:") {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "no API line: {base:?}"
        );
        assert!(manager.starts_with("dpt_"), "no manager token");
        Demo {
            child,
            base,
            manager,
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `depot-server demo` with its default `gateway = "sim"`: the simulator
/// serves the register map over Modbus TCP, the poller drains it like a
/// real gateway, and its passes are booked: in and out, an unknown EPC on
/// the unidentified list, the gateway online, stock equal to the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_books_the_simulated_gateways_passes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let demo = Demo::start(&db, 100);
    let (base, token) = (demo.base.clone(), demo.manager.clone());
    let (base, token) = (base.as_str(), token.as_str());
    let deadline = Instant::now() + Duration::from_secs(90);
    let count = |passes: &[Value], direction: &str, outcome: &str| {
        passes
            .iter()
            .filter(|p| p["direction"] == direction && p["outcome"] == outcome)
            .count()
    };
    let recorded = loop {
        let recorded = passes(base, token).await;
        if count(&recorded, "in", "booked") >= 5
            && count(&recorded, "out", "booked") >= 2
            && count(&recorded, "in", "unidentified") >= 1
        {
            break recorded;
        }
        assert!(
            Instant::now() < deadline,
            "the simulated passes were not booked in time: {recorded:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    outcomes(&recorded);
    assert!(recorded.iter().all(|p| p["gateway"] == "sim"));
    assert!(recorded
        .iter()
        .all(|p| p["dock"] == "DOCK-1" || p["dock"] == "DOCK-2"));
    assert_eq!(
        count(&recorded, "out", "flagged"),
        0,
        "out passes carry only items that went in"
    );

    let gates = get(base, token, "/api/v1/gates").await;
    assert_eq!(gates["gateways"][0]["id"], "sim", "{gates}");
    assert_eq!(gates["gateways"][0]["state"], "online", "{gates}");

    // The water the gate booked, against the stock, read while nothing
    // new is booked between the two reads of the passes.
    let water = |p: &&Value| {
        p["epc"]
            .as_str()
            .is_some_and(|id| id.starts_with("urn:epc:id:sgtin:4006381."))
    };
    loop {
        let before = passes(base, token).await;
        let report = get(base, token, "/api/v1/stock?sku=WATER-1L5").await;
        let after = passes(base, token).await;
        if before.len() != after.len() {
            assert!(Instant::now() < deadline, "no quiet instant to compare");
            continue;
        }
        let booked = |direction| {
            after
                .iter()
                .filter(water)
                .filter(|p| p["direction"] == direction && p["outcome"] == "booked")
                .count() as i64
        };
        let held: i64 = report["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["quantity"].as_i64().expect("qty"))
            .sum();
        assert_eq!(held, 300 + booked("in") - booked("out"));
        let gate_moves = movements(base, token)
            .await
            .into_iter()
            .filter(|m| m["source"] == "gate")
            .count();
        assert!(gate_moves as i64 >= booked("in") + booked("out"));
        break;
    }
    drop(demo);
    let pool = depot_server::store::open_pool(&db, &Default::default())
        .await
        .expect("open db");
    let mut conn = pool.acquire().await.expect("conn");
    let mismatches = depot_server::store::ledger::ledger_mismatches(&mut conn)
        .await
        .expect("query");
    assert!(
        mismatches.is_empty(),
        "stock differs from the ledger: {mismatches:?}"
    );
    drop(conn);
    pool.close().await;

    // `run` with `gateway = "sim"` on the demo database: a new simulated
    // boot, and its passes booked too.
    let config = dir.path().join("depot.toml");
    std::fs::write(&config, "sim_pass_interval_ms = 100\n").unwrap();
    let server = Server::start_with(&db, &["--config", config.to_str().unwrap()], "sim");
    let first_boot = recorded[0]["boot_id"].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = passes(&server.base, token).await;
        let booked_anew = now
            .iter()
            .filter(|p| p["boot_id"] != first_boot && p["outcome"] == "booked")
            .count();
        if booked_anew >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "run with sim booked nothing: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gates = get(&server.base, token, "/api/v1/gates").await;
    assert_eq!(gates["gateways"][0]["state"], "online", "{gates}");
}

/// `gateway = "sim"` on a database `demo` did not create simulates
/// nothing (a real depot's ledger never sees simulated passes); `off` polls
/// nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_never_runs_on_a_real_depot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let boss = seed(dir.path(), &db);
    for gateway in ["sim", "off"] {
        let server = Server::start(&db, gateway);
        let gates = get(&server.base, &boss, "/api/v1/gates").await;
        assert_eq!(gates["gateways"], json!([]), "{gateway}: {gates}");
        assert!(passes(&server.base, &boss).await.is_empty());
    }
}
