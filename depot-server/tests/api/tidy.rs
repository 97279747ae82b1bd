//! Architecture checks: what ARCHITECTURE.md claims about the code, tested.
//! Dependencies point inward (adapters → `depot` → {`domain`, `store`};
//! `domain` → nothing), the domain stays pure, and every module says what it
//! is for.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its comments, so that docs may name what the code may not use.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `crate::…` modules a file names (`crate::store::ledger` → `store`).
fn crate_modules(text: &str) -> Vec<String> {
    let mut modules = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            modules.push(name);
        }
        rest = after;
    }
    modules
}

/// `src/domain/` names no adapter crate, reads no clock and uses nothing
/// outside the domain.
#[test]
fn the_domain_is_pure() {
    let forbidden = [
        "sqlx",
        "tokio",
        "axum",
        "rumqttc",
        "tokio_modbus",
        "reqwest",
        "now()",
        "now_utc",
        "now_local",
        "Instant",
        "std::fs",
        "std::net",
        "std::env",
        "SystemTime",
        "serde",
    ];
    let files = sources(&src().join("domain"));
    assert!(files.len() >= 5, "only {} domain files found", files.len());
    for path in files {
        let text = code(&path);
        for word in forbidden {
            assert!(
                !text.contains(word),
                "{} names `{word}`: the domain must stay pure",
                path.display()
            );
        }
        for module in crate_modules(&text) {
            assert_eq!(
                module,
                "domain",
                "{} uses crate::{module}: the domain depends on nothing",
                path.display()
            );
        }
    }
}

/// Adapters → `depot` → {`domain`, `store`}: the store knows only the domain,
/// the façade knows no adapter, and no adapter reaches past the façade into
/// the store.
#[test]
fn dependencies_point_inward() {
    let rules: &[(&str, &[&str])] = &[
        ("store", &["domain", "store"]),
        (
            "depot",
            &[
                "domain",
                "store",
                "depot",
                "metrics",
                "repeat_log",
                "tokens",
                "passwords",
                "epc",
            ],
        ),
        (
            "http",
            &["depot", "domain", "http", "epc", "metrics", "repeat_log"],
        ),
        ("web", &["depot", "domain", "http", "web"]),
        (
            "gates",
            // `rpi`: the RS-485 driver-enable pin around an RTU line's sends.
            &[
                "config", "depot", "domain", "epc", "gates", "metrics", "rpi",
            ],
        ),
        (
            "replication",
            &["depot", "domain", "replication", "metrics", "repeat_log"],
        ),
    ];
    for (dir, allowed) in rules {
        for path in sources(&src().join(dir)) {
            for module in crate_modules(&code(&path)) {
                assert!(
                    allowed.contains(&module.as_str()),
                    "{} uses crate::{module}; {dir}/ may use only {allowed:?}",
                    path.display()
                );
            }
        }
    }
    for file in [
        "import.rs",
        "demo.rs",
        "users.rs",
        "main.rs",
        "app.rs",
        "service.rs",
        "tls.rs",
        "rpi.rs",
    ] {
        let text = code(&src().join(file));
        for module in crate_modules(&text) {
            assert_ne!(
                module, "store",
                "src/{file} reaches past the façade into the store"
            );
        }
        assert!(
            !text.contains("depot_server::store"),
            "src/{file} reaches past the façade into the store"
        );
    }
}

/// Every module starts with a `//!` header saying what it owns.
#[test]
fn every_module_says_what_it_is_for() {
    for path in sources(&src()) {
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("//!"),
            "{} has no `//!` header saying what the module is for",
            path.display()
        );
    }
}
