//! The built-in gateway simulator (`gateway = "sim"`): a register bank
//! ([`bank`]) served over Modbus TCP on loopback by tokio-modbus, fed with
//! tag passes by a seeded plan ([`traffic`]) over the depot's tagged
//! articles. The poller drains it like any gateway, so its passes reach
//! the ledger only the way a real gateway's do.

pub mod bank;
pub mod traffic;

use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gateway_registers::Direction;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_modbus::server::tcp::{accept_tcp_connection, Server};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use crate::config::Transport;
use crate::depot::{operator, Depot};
use crate::epc;

use bank::{Bank, Pass, Refusal};
use traffic::{Tagged, Traffic};

/// Events the simulated ring holds.
const RING_CAPACITY: u16 = 256;
/// The simulated gateway's Modbus unit id.
pub const UNIT_ID: u8 = 1;

/// A running simulator: where to poll it, and its tasks.
pub struct Simulator {
    pub transport: Transport,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Starts a simulated gateway with `gates` gates on a free loopback port,
/// passing a tag every `interval` until `stop` turns true.
pub async fn start(
    depot: &Depot,
    gates: u16,
    interval: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Simulator> {
    let articles = tagged_articles(depot).await?;
    let seed: u64 = rand::thread_rng().gen();
    tracing::info!(
        articles = articles.len(),
        gates,
        every_ms = interval.as_millis() as u64,
        seed,
        "gateway simulator passing tags"
    );
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = listener.local_addr()?;
    let booted = Instant::now();
    let bank = Arc::new(Mutex::new(Bank::new(RING_CAPACITY)));
    let serve = {
        let bank = bank.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let on_connected = |stream, peer| {
                ready(accept_tcp_connection(stream, peer, |_| {
                    Ok(Some(Service {
                        bank: bank.clone(),
                        booted,
                    }))
                }))
            };
            let on_error = |error| tracing::debug!(%error, "simulated gateway connection ended");
            let stopped = async move {
                let _ = stop.wait_for(|&s| s).await;
            };
            if let Err(error) = Server::new(listener)
                .serve_until(&on_connected, on_error, stopped)
                .await
            {
                tracing::error!(%error, "the gateway simulator stopped serving");
            }
        })
    };
    let feed = tokio::spawn(feed(
        bank,
        Traffic::new(seed, articles, gates),
        booted,
        interval,
        stop,
    ));
    Ok(Simulator {
        transport: Transport::Tcp(address.to_string()),
        tasks: vec![serve, feed],
    })
}

/// The articles whose passes can be booked without a manager: tagged by
/// GTIN and not lot-tracked (a tag carries no lot).
async fn tagged_articles(depot: &Depot) -> anyhow::Result<Vec<Tagged>> {
    let caller = operator("gate simulator");
    let mut tagged = Vec::new();
    let mut after = String::new();
    loop {
        let page = depot.articles(&caller, &after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.sku.as_str().to_owned();
        tagged.extend(page.iter().filter(|a| !a.lot_tracked).filter_map(|a| {
            a.gtin.as_ref().map(|gtin| Tagged {
                gtin14: gtin.to_gtin14(),
                unit_weight_g: a.unit_weight_g,
            })
        }));
    }
    Ok(tagged)
}

/// Passes the planned tags through the bank, one every `interval`.
async fn feed(
    bank: Arc<Mutex<Bank>>,
    mut traffic: Traffic,
    booted: Instant,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|&s| s) => return,
        }
        let planned = traffic.next_pass();
        let epc = match epc::encode(&planned.tag_uri).and_then(|hex| words(&hex)) {
            Ok(epc) => epc,
            Err(error) => {
                tracing::error!(uri = %planned.tag_uri, %error, "the simulator cannot encode a tag");
                continue;
            }
        };
        let pass = Pass {
            gate: planned.gate,
            direction: planned.direction,
            antenna: if planned.direction == Direction::Out {
                1
            } else {
                2
            },
            rssi_dbm: -48,
            epc,
        };
        let mut bank = bank.lock().unwrap_or_else(PoisonError::into_inner);
        bank.set_uptime_ms(booted.elapsed().as_millis() as u64);
        bank.weigh(planned.weight_grams);
        match bank.push(&pass) {
            Some(seq) => {
                tracing::debug!(seq, direction = ?planned.direction, uri = %planned.tag_uri,
                weight = planned.weight_grams, waiting = bank.waiting(), inside = traffic.inside(),
                "simulated pass")
            }
            None => tracing::debug!("the simulated ring is full; the pass overflowed"),
        }
    }
}

/// EPC hex as 16-bit words, most significant first.
pub fn words(hex: &str) -> Result<Vec<u16>, String> {
    let bytes = hex::decode(hex).map_err(|e| e.to_string())?;
    Ok(bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
        .collect())
}

/// The Modbus side: each request handed to the bank under its lock.
pub struct Service {
    bank: Arc<Mutex<Bank>>,
    booted: Instant,
}

impl Service {
    /// Serves `bank` as unit [`UNIT_ID`] of a gateway booted at `booted`.
    pub fn new(bank: Arc<Mutex<Bank>>, booted: Instant) -> Self {
        Self { bank, booted }
    }
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Self::Response, Self::Exception>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        // Another unit id gets no answer; broadcast writes no answer either.
        let broadcast = request.slave == 0;
        if !broadcast && request.slave != UNIT_ID {
            return ready(Ok(None));
        }
        let mut bank = self.bank.lock().unwrap_or_else(PoisonError::into_inner);
        bank.set_uptime_ms(self.booted.elapsed().as_millis() as u64);
        let answer = match request.request {
            Request::ReadInputRegisters(start, count) if !broadcast => bank
                .read_input(start, count)
                .map(Response::ReadInputRegisters),
            Request::ReadHoldingRegisters(start, count) if !broadcast => bank
                .read_holding(start, count)
                .map(Response::ReadHoldingRegisters),
            Request::WriteSingleRegister(address, value) => bank
                .write_holding(address, &[value])
                .map(|()| Response::WriteSingleRegister(address, value)),
            Request::WriteMultipleRegisters(start, values) => bank
                .write_holding(start, &values)
                .map(|()| Response::WriteMultipleRegisters(start, values.len() as u16)),
            _ if broadcast => return ready(Ok(None)),
            _ => return ready(Err(ExceptionCode::IllegalFunction)),
        };
        ready(match answer {
            Ok(_) if broadcast => Ok(None),
            Ok(response) => Ok(Some(response)),
            Err(Refusal::Address) => Err(ExceptionCode::IllegalDataAddress),
            Err(Refusal::Value) => Err(ExceptionCode::IllegalDataValue),
        })
    }
}
