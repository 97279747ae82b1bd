//! Hub apply rate through the store, one message after another as the feed
//! applies them (each its own transaction, committed before the next):
//! `cargo run -p regional-hub --example apply_rate -- DB [N]`,
//! with DB a SQLite file path (created) or a `postgres://` URL. Prints the
//! movements applied per second. The figures and the machine they ran on
//! are in BENCHMARKS.md.

use std::time::Instant;

use regional_hub::core::message;
use regional_hub::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: apply_rate DB [N]"))?;
    let n: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5_000);
    let store = Store::open(&db).await?;
    // A depot id of this run, so runs on one database do not collide.
    let depot = format!("bench-{}", std::process::id());
    let messages = (1..=n)
        .map(|seq| {
            let payload = format!(
                r#"{{"v":2,"depot":"{depot}","epoch":{{"id":"0123456789abcdef0123456789abcdef","generation":0,"base":0}},"seq":{seq},"hash":"{seq:064x}","prev":"{:064x}","time":"2026-12-01T09:00:00Z","kind":"receive","sku":"ART-1","quantity":1,"from":null,"to":"B-1","lot":null,"epcs":[],"source":"api"}}"#,
            seq.saturating_sub(1)
            );
            message::parse(&format!("depot/v1/{depot}/movements"), payload.as_bytes())
                .map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    for message in &messages {
        store
            .apply(message, time::OffsetDateTime::now_utc())
            .await?;
    }
    let elapsed = started.elapsed();
    println!(
        "{:?}: {n} movements in {:.2} s = {:.0} movements/s",
        store.backend(),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
    Ok(())
}
