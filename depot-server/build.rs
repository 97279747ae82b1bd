//! Records when this program was built, as a lower bound for a plausible
//! wall clock (`domain::clock`): `SOURCE_DATE_EPOCH` when set (reproducible
//! builds), else the time the build script first ran. It runs again only
//! when it changes, so the bound may be older than the build: never later.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=BUILD_UNIX_SECONDS={built}");
}
