//! Architecture checks: the domain stays pure.

use std::path::Path;

/// `src/domain/` names no adapter crate and reads no clock.
#[test]
fn the_domain_is_pure() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let forbidden = [
        "sqlx",
        "tokio",
        "axum",
        "rumqttc",
        "tokio_modbus",
        "reqwest",
        "now()",
        "std::fs",
        "std::net",
        "SystemTime",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("src/domain") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        for word in forbidden {
            assert!(
                !text.contains(word),
                "{} names `{word}`: the domain must stay pure",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} domain files found");
}
