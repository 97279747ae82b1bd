//! systemd's notify protocol, heard on a real unix datagram socket as
//! systemd would: the real binary says `READY=1`, keeps the watchdog fed,
//! stops feeding it while its writer is wedged (the sqlite3 CLI holds the
//! database's write lock), feeds it again when the writer is free, and says
//! `STOPPING=1` on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UnixDatagram;

/// The next datagram within `wait`, as text.
async fn next_message(socket: &UnixDatagram, wait: Duration) -> Option<String> {
    let mut buffer = vec![0; 4096];
    match tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buffer[..n]).into_owned()),
        Ok(Err(error)) => panic!("notify socket: {error}"),
        Err(_) => None,
    }
}

/// Waits up to `wait` for `count` datagrams that contain `text`.
async fn expect_messages(socket: &UnixDatagram, text: &str, count: usize, wait: Duration) {
    let deadline = Instant::now() + wait;
    let mut seen = 0;
    while seen < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_message(socket, left).await {
            Some(message) if message.lines().any(|l| l == text) => seen += 1,
            Some(_) => {}
            None => panic!("{seen} of {count} '{text}' within {wait:?}"),
        }
    }
}

fn wait_for_log(log: &Mutex<Vec<String>>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.lock().unwrap().iter().any(|l| l.contains(text)) {
        assert!(Instant::now() < deadline, "no log line with '{text}'");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_ready_keep_alives_that_stop_while_the_writer_is_wedged_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let db = dir.join("depot.db");
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(&db)
        .args(["user", "add", "boss", "--role", "manager"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let manager = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();

    // As systemd starts a service: WATCHDOG_PID is the service's own pid.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"export WATCHDOG_PID=$$; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_depot-server"))
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("NOTIFY_SOCKET", &socket_path)
        // 2 s: a keep-alive every 0.5 s.
        .env("WATCHDOG_USEC", "2000000")
        .env("DEPOT_BUSY_TIMEOUT_MS", "600000")
        .env("DEPOT_GATEWAY", "off")
        .env("DEPOT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });

    let ready = next_message(&socket, Duration::from_secs(60))
        .await
        .expect("READY=1 within 60 s");
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    let status = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=serving on http://"))
        .unwrap_or_else(|| panic!("a status with the address: {ready:?}"));
    let base = format!("http://{status}");
    expect_messages(&socket, "WATCHDOG=1", 3, Duration::from_secs(30)).await;

    // Wedge the writer: another process holds the write lock, and a change
    // waits for it (busy timeout 10 min).
    let mut sqlite = Command::new("sqlite3")
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sqlite3 is missing: run scripts/install-deps.sh (Debian package sqlite3)");
    let mut sql_in = sqlite.stdin.take().unwrap();
    let mut sql_out = BufReader::new(sqlite.stdout.take().unwrap()).lines();
    writeln!(sql_in, "BEGIN IMMEDIATE;\n.print locked").unwrap();
    assert_eq!(sql_out.next().unwrap().unwrap(), "locked");
    let client = reqwest::Client::new();
    let create = tokio::spawn(
        client
            .post(format!("{base}/api/v1/articles"))
            .bearer_auth(&manager)
            .json(&serde_json::json!({"sku":"WEDGE-1","name":"Waits","unit":"piece"}))
            .send(),
    );
    let seen = log.clone();
    tokio::task::spawn_blocking(move || wait_for_log(&seen, "no keep-alive sent"))
        .await
        .unwrap();
    while next_message(&socket, Duration::ZERO).await.is_some() {}
    let deadline = Instant::now() + Duration::from_millis(2_500);
    while let Some(message) =
        next_message(&socket, deadline.saturating_duration_since(Instant::now())).await
    {
        assert!(
            !message.lines().any(|l| l == "WATCHDOG=1"),
            "a keep-alive while the writer is wedged"
        );
    }
    let response = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("HTTP still answers reads");
    assert_eq!(response.status(), 200);

    // Free the writer: the change commits and the keep-alive comes back.
    writeln!(sql_in, "ROLLBACK;\n.quit").unwrap();
    drop(sql_in);
    assert!(sqlite.wait().unwrap().success());
    let created = create.await.unwrap().unwrap();
    assert_eq!(created.status(), 201);
    expect_messages(&socket, "WATCHDOG=1", 2, Duration::from_secs(30)).await;
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("keep-alive resumed")));

    let out = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    expect_messages(&socket, "STOPPING=1", 1, Duration::from_secs(30)).await;
    assert!(child.wait().unwrap().success());
}

/// The packaged unit as systemd reads it: `systemd-analyze verify` finds no
/// error or warning (its `ExecStart` pointed at the binary just built), and
/// `systemd-analyze security` rates its sandbox 2.0 or better (0 best, 10 worst).
#[test]
fn systemd_analyze_accepts_the_unit_and_rates_its_sandbox() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/depot-server.service"),
    )
    .unwrap();
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/depot-edge",
        "SupplementaryGroups=",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(directive)),
            "{directive}"
        );
    }
    assert!(unit.contains("ExecStart=/usr/bin/depot-server "));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("depot-server.service");
    let built = unit.replace(
        "ExecStart=/usr/bin/depot-server ",
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_depot-server")),
    );
    std::fs::write(&path, built).unwrap();
    let analyze = |args: &[&str]| {
        Command::new("systemd-analyze")
            .args(args)
            .arg(&path)
            .output()
            .expect(
                "systemd-analyze is missing: run scripts/install-deps.sh (Debian package systemd)",
            )
    };
    let out = analyze(&["verify"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    let out = analyze(&["security", "--offline=yes", "--threshold=20"]);
    assert!(
        out.status.success(),
        "exposure above 2.0: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
