//! systemd's service protocol (`sd_notify`): `READY=1` once the server is
//! bound and its writer runs, `STOPPING=1` when it shuts down, and the
//! watchdog's keep-alive (`WATCHDOG=1`). A keep-alive is sent only after the
//! server proved itself alive within the deadline: the writer answered a
//! round trip through its queue and the HTTP stack answered `GET /healthz`
//! (any status: a full disk is not cured by a restart, a wedged process is).
//! So a server whose writer or HTTP handlers hang stops the keep-alive and
//! systemd restarts it. Without `NOTIFY_SOCKET` (not under systemd) nothing
//! is sent; without `WATCHDOG_USEC` there is no keep-alive.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use sd_notify::NotifyState;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::depot::Depot;

/// Tells systemd the server is ready, with a status line it shows.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the server is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(states: &[NotifyState<'_>]) {
    // The socket is kept in the environment (`false`) for the keep-alive.
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// The keep-alive's period if systemd's watchdog is on for this process.
pub fn watchdog_period() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec)
        .then(|| keep_alive_period(Duration::from_micros(usec)))
        .flatten()
}

/// A quarter of the watchdog's timeout: a check that takes up to one period
/// and a keep-alive in the next still arrive well within the timeout.
fn keep_alive_period(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then(|| timeout / 4)
}

/// Sends `WATCHDOG=1` every `period` for as long as the writer and the HTTP
/// stack answer within it; ends when `stop` turns true.
pub async fn keep_alive(
    depot: Depot,
    router: Router,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut silent = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let probe = async {
            let request = Request::get("/healthz").body(Body::empty());
            let http = async {
                match request {
                    Ok(request) => router.clone().oneshot(request).await.is_ok(),
                    Err(_) => false,
                }
            };
            let (writer, http) = tokio::join!(depot.ping_writer(), http);
            writer.is_ok() && http
        };
        match tokio::time::timeout(period, probe).await {
            Ok(true) => {
                if silent {
                    tracing::info!("watchdog: the server answers again; keep-alive resumed");
                    silent = false;
                }
                notify(&[NotifyState::Watchdog]);
            }
            _ => {
                if !silent {
                    tracing::error!(
                        period_ms = period.as_millis(),
                        "watchdog: the writer or HTTP did not answer in time; no keep-alive sent"
                    );
                    silent = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keep_alive_comes_four_times_per_timeout() {
        assert_eq!(
            keep_alive_period(Duration::from_secs(30)),
            Some(Duration::from_millis(7_500))
        );
        assert_eq!(keep_alive_period(Duration::ZERO), None);
    }
}
