//! The command line, run as the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn depot_server(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(args)
        .current_dir(dir)
        .env_remove("DEPOT_DB")
        .env("DEPOT_LOG", "warn")
        .output()
        .expect("run depot-server")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn user_add_prints_the_token_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = depot_server(
        &["--db", "u.db", "user", "add", "alice", "--role", "staff"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.strip_suffix('\n').expect("one line");
    assert!(
        token.starts_with("dpt_") && token.len() == 68 && !token.contains('\n'),
        "{text:?}"
    );

    // Global options work after the subcommand too.
    let out = depot_server(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "auditor",
            "--restricted",
            "--db",
            "u.db",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = depot_server(&["user", "list", "--db", "u.db"], dir.path());
    let list = stdout(&out);
    assert!(list.contains("alice\tstaff\topen\tactive"), "{list}");
    assert!(list.contains("bob\tauditor\trestricted\tactive"), "{list}");
    assert!(!list.contains(token), "user list must never show a token");

    let out = depot_server(
        &["--db", "u.db", "user", "add", "alice", "--role", "staff"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    let out = depot_server(
        &["--db", "u.db", "user", "add", "carol", "--role", "admiral"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("role"), "{}", stderr(&out));

    let out = depot_server(&["--db", "u.db", "user", "revoke", "alice"], dir.path());
    assert!(out.status.success());
    let list = stdout(&depot_server(&["--db", "u.db", "user", "list"], dir.path()));
    assert!(list.contains("alice\tstaff\topen\trevoked"), "{list}");
    let out = depot_server(&["--db", "u.db", "user", "revoke", "alice"], dir.path());
    assert!(!out.status.success(), "revoking twice is an error");
    let out = depot_server(
        &["--db", "u.db", "user", "add", "alice", "--role", "manager"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "a revoked user can be given a new token: {}",
        stderr(&out)
    );
    assert_ne!(stdout(&out).trim(), token);
    let list = stdout(&depot_server(&["--db", "u.db", "user", "list"], dir.path()));
    assert!(list.contains("alice\tmanager\topen\tactive"), "{list}");
}

#[test]
fn import_reports_every_bad_row_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("articles.csv"),
        "sku,name,unit,gtin,classification\nGOOD-1,Good,piece,,open\nBAD 2,Bad sku,piece,,open\nGOOD-3,Good,piece,4006381333932,open\nGOOD-4,Good,litre,,\n",
    )
    .unwrap();
    let out = depot_server(
        &["--db", "i.db", "import", "articles", "articles.csv"],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("nothing imported; 3 bad row(s)"), "{err}");
    assert!(err.contains("line 3: sku"), "{err}");
    assert!(err.contains("line 4: gtin: check digit"), "{err}");
    assert!(err.contains("line 5: unit"), "{err}");
    assert!(!err.contains("line 2"), "{err}");

    std::fs::write(
        dir.path().join("articles.csv"),
        "sku,name,unit,gtin\nGOOD-1,Good,piece,\nGOOD-2,Water,l,4006381333931\n",
    )
    .unwrap();
    let out = depot_server(
        &["--db", "i.db", "import", "articles", "articles.csv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("imported 2 articles"));

    std::fs::write(
        dir.path().join("locations.csv"),
        "code,zone,kind,capacity_pallets\nA-01,A,bin,4\nA-02,A,shelf,4\n",
    )
    .unwrap();
    let out = depot_server(
        &["--db", "i.db", "import", "locations", "locations.csv"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 3: kind"), "{}", stderr(&out));
    let out = depot_server(
        &["--db", "i.db", "import", "locations", "missing.csv"],
        dir.path(),
    );
    assert!(
        stderr(&out).contains("cannot read missing.csv"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn demo_refuses_a_database_that_is_not_a_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = depot_server(&["--db", "real.db", "migrate"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = depot_server(
        &["--db", "real.db", "--listen", "127.0.0.1:0", "demo"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to overwrite"),
        "{}",
        stderr(&out)
    );
    // A file that is not a depot database is left exactly as it was.
    std::fs::write(dir.path().join("other.db"), b"not a database at all").unwrap();
    let out = depot_server(
        &["--db", "other.db", "--listen", "127.0.0.1:0", "demo"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read(dir.path().join("other.db")).unwrap(),
        b"not a database at all"
    );
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("depot.toml"),
        "listen = \"127.0.0.1:1\"\nmqtt = \"x\"\n",
    )
    .unwrap();
    let out = depot_server(&["migrate"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("mqtt"), "{}", stderr(&out));
    std::fs::remove_file(dir.path().join("depot.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["--db", "c.db", "migrate"])
        .current_dir(dir.path())
        .env("DEPOT_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("listen (environment DEPOT_LISTEN)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn backup_writes_a_consistent_copy() {
    let dir = tempfile::tempdir().unwrap();
    assert!(depot_server(
        &["--db", "b.db", "user", "add", "x", "--role", "hub"],
        dir.path()
    )
    .status
    .success());
    let out = depot_server(&["--db", "b.db", "backup", "copy.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&depot_server(
        &["--db", "copy.db", "user", "list"],
        dir.path(),
    ));
    assert!(list.starts_with("x\thub"), "{list}");
    let again = depot_server(&["--db", "b.db", "backup", "copy.db"], dir.path());
    assert!(!again.status.success(), "a backup never overwrites");
}

/// Runs `demo` as the README says, reads what it prints, and uses it.
fn start_demo(dir: &Path) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("DEPOT_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut api, mut staff) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(rest) = line.trim().strip_prefix("API:") {
            api = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_owned();
        }
        if line.trim().starts_with("demo-staff") {
            staff = line.split_whitespace().nth(2).unwrap_or("").to_owned();
        }
        if line.trim().starts_with("Try:") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert!(
        api.starts_with("http://127.0.0.1:"),
        "API line missing: {api:?}"
    );
    assert!(staff.starts_with("dpt_"), "staff token missing");
    (child, api, staff)
}

#[tokio::test]
async fn demo_serves_what_it_prints_and_starts_fresh_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let water = |api: &str| format!("{api}/stock?sku=WATER-1L5");
    let (mut child, api, staff) = start_demo(dir.path());
    let stock: serde_json::Value = client
        .get(water(&api))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock["items"][0]["quantity"], 300);
    let issued = client
        .post(format!("{api}/movements"))
        .bearer_auth(&staff)
        .header("Idempotency-Key", "demo-1")
        .json(&serde_json::json!({"kind":"issue","sku":"WATER-1L5","quantity":5,"from":"A-01-03"}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, api, staff) = start_demo(dir.path());
    let stock: serde_json::Value = client
        .get(water(&api))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stock["items"][0]["quantity"], 300,
        "a second demo starts from fresh demo data"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn epc_decode_and_encode_one_line_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = depot_server(
        &[
            "epc",
            "decode",
            "3074257BF7194E4000001A85",
            "3074257BF7194E4000001A8",
            "2F0203144333831000000001",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "one input failed");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].contains("tag=urn:epc:tag:sgtin-96:3.0614141.812345.6789"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("gtin=80614141123458"), "{}", lines[0]);
    assert!(lines[1].contains("error:"), "{}", lines[1]);
    assert!(
        lines[2].contains("urn:epc:tag:usdod-96:0.1D381.1"),
        "{}",
        lines[2]
    );

    let out = depot_server(
        &["epc", "decode", "--json", "3174257BF4499602D2000000"],
        dir.path(),
    );
    assert!(out.status.success());
    let view: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(view["sscc"], "106141412345678908");
    assert_eq!(view["tag_uri"], "urn:epc:tag:sscc-96:3.0614141.1234567890");

    let out = depot_server(
        &[
            "epc",
            "encode",
            "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
            "urn:epc:tag:giai-96:3.0614141.12345400",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "3074257BF7194E4000001A85\n3474257BF400000000BC6038\n"
    );
}

fn with_stdin(args: &[&str], dir: &Path, input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(args)
        .current_dir(dir)
        .env_remove("DEPOT_DB")
        .env("DEPOT_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run depot-server");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

#[tokio::test]
async fn passwords_come_from_stdin_and_open_a_web_login() {
    use depot_server::depot::{Depot, DepotOptions, LoginOutcome};
    let dir = tempfile::tempdir().unwrap();
    let add = [
        "--db",
        "p.db",
        "user",
        "add",
        "bob",
        "--role",
        "staff",
        "--password-stdin",
    ];
    let out = with_stdin(&add, dir.path(), "first-password\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().starts_with("dpt_"), "only the token");
    let passwd = ["--db", "p.db", "user", "passwd", "bob", "--password-stdin"];
    let out = with_stdin(&passwd, dir.path(), "short\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("8 to 256 characters"),
        "{}",
        stderr(&out)
    );
    let out = with_stdin(&passwd, dir.path(), "second-password\r\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let nobody = [
        "--db",
        "p.db",
        "user",
        "passwd",
        "nobody",
        "--password-stdin",
    ];
    let out = with_stdin(&nobody, dir.path(), "some-password\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no active user 'nobody'"),
        "{}",
        stderr(&out)
    );

    let metrics = std::sync::Arc::new(depot_server::metrics::Metrics::default());
    let (depot, _writer) = Depot::open(&dir.path().join("p.db"), &DepotOptions::default(), metrics)
        .await
        .unwrap();
    assert_eq!(
        depot.login("bob", "first-password").await.unwrap(),
        LoginOutcome::Refused
    );
    let LoginOutcome::SignedIn { cookie, session } =
        depot.login("bob", "second-password").await.unwrap()
    else {
        panic!("the new password signs in");
    };
    assert_eq!(session.caller.name, "bob");
    assert_eq!(depot.session(&cookie).await.unwrap(), Some(session));
    depot.logout(&cookie).await.unwrap();
    assert_eq!(depot.session(&cookie).await.unwrap(), None);
}
