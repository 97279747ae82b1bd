//! The core stays pure: no file under `src/core/` names a database, runtime,
//! web framework or broker client, or reads the clock.

#[test]
fn core_names_no_adapter_and_reads_no_clock() {
    let core = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut checked = 0;
    for entry in std::fs::read_dir(&core).expect("src/core") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        for forbidden in [
            "sqlx",
            "tokio",
            "axum",
            "rumqttc",
            "now_utc()",
            "SystemTime",
            "Instant",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} names {forbidden}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "src/core has its modules");
}
