//! A build without the `rpi` feature (the default) refuses a configuration
//! that names GPIO pins at start, rather than running without its lights or
//! its RS-485 driver enable.

#[cfg(not(feature = "rpi"))]
#[test]
fn without_the_rpi_feature_gpio_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("depot.toml"),
        "gateway = \"off\"\n[[dock_lights]]\ndock = \"DOCK-1\"\ngreen_gpio = 17\nred_gpio = 27\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["--config", "depot.toml", "--listen", "127.0.0.1:0", "run"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("feature rpi"), "{said}");
}
