//! The gate poller: drains each gateway's event ring over Modbus (TCP, or
//! RTU on a serial line) with tokio-modbus and hands each read to the
//! `Depot` façade, which stores passes, bookings and the cursor in one
//! transaction; only then is the gateway acknowledged (REGISTERS.md,
//! "Draining events" and "Boots").
//!
//! It owns transports, timeouts, backoff and the gateways' link state. It
//! decides nothing about bookings or replays (`domain::gate` does, inside
//! the writer) and never writes to the database except through the façade.
//! Gateways on one RTU line share one transport and are polled in turn, so
//! polls on a line never overlap; a link error backs off that line alone.
//! `gateway = "sim"` starts the built-in simulator ([`sim`]) and polls it
//! over Modbus TCP like any other gateway.

pub mod sim;

use std::collections::HashMap;
use std::time::Duration;

use gateway_registers::{holding, input, DrainBlock, EventRecord, GatewayStatus, MAP_VERSION};
use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use tokio_modbus::client::{Client, Context, Reader, Writer};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::Slave;

use crate::config::{Config, Transport};
use crate::depot::{operator, Depot, EpcRef, GateEvent, GateRead};
use crate::domain::gate::{Direction, GatewayState, LinkState, PassRate, WeightRule};
use crate::domain::location::{LocationCode, LocationKind};
use crate::epc;
use crate::metrics::{gateway_label, GatewayLabel};

/// How long a gateway has to answer one request.
const REPLY_TIMEOUT: Duration = Duration::from_millis(1_000);
/// The first and the longest pause after a link error.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the gateway's status block (firmware, uptime, its counters) is
/// read again while it answers.
const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// One gateway as the poller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySpec {
    pub id: String,
    pub unit_id: u8,
    pub poll_interval: Duration,
    /// Gate index → dock location.
    pub docks: Vec<Option<LocationCode>>,
    /// How its passes are weighed.
    pub weight_rule: WeightRule,
}

/// One transport and the gateways behind it (several on one RS-485 line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub transport: Transport,
    pub gateways: Vec<GatewaySpec>,
}

/// Starts the gateways the configuration asks for and their pollers; each
/// task stops when `stop` turns true. `sim` starts the simulator only on a
/// demo database (`demo`): simulated passes never reach a real depot's ledger.
pub async fn start(
    config: &Config,
    depot: &Depot,
    demo: bool,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let lines = if config.gateways.is_empty() && config.gateway == "sim" {
        if demo {
            let docks = dock_locations(depot).await?;
            let gates = u16::try_from(docks.len()).unwrap_or(u16::MAX);
            let interval = Duration::from_millis(config.sim_pass_interval_ms);
            let simulator = sim::start(depot, gates, interval, stop.clone()).await?;
            tasks.extend(simulator.tasks);
            vec![Line {
                transport: simulator.transport,
                gateways: vec![GatewaySpec {
                    id: "sim".into(),
                    unit_id: sim::UNIT_ID,
                    poll_interval: Duration::from_millis(100),
                    docks,
                    weight_rule: weight_rule(config),
                }],
            }]
        } else {
            tracing::warn!(
                "gateway = \"sim\" simulates only on a demo database; polling no gateway \
                 (set gateway to rtu:… or tcp:…, or to off)"
            );
            Vec::new()
        }
    } else {
        configured_lines(config, depot).await?
    };
    tasks.extend(spawn(depot, lines, stop));
    Ok(tasks)
}

/// The scale plausibility rule of the configuration.
fn weight_rule(config: &Config) -> WeightRule {
    WeightRule {
        window_ms: config.gate_weight_window_ms,
        tolerance_grams: config.gate_weight_tolerance_g,
        tolerance_pct: config.gate_weight_tolerance_pct,
    }
}

/// The depot's dock locations in code order, as the one-gateway shorthand
/// maps its gates.
async fn dock_locations(depot: &Depot) -> anyhow::Result<Vec<Option<LocationCode>>> {
    Ok(depot
        .locations(&operator("gate poller"), "", 10_000, None)
        .await?
        .into_iter()
        .filter(|l| l.kind == LocationKind::Dock)
        .map(|l| Some(l.code))
        .collect())
}

/// The lines the configuration asks for: `[[gateways]]`, or the `gateway`
/// shorthand with its gates mapped to the depot's dock locations in code
/// order. `off` polls nothing.
async fn configured_lines(config: &Config, depot: &Depot) -> anyhow::Result<Vec<Line>> {
    let mut lines: Vec<Line> = Vec::new();
    let mut add = |transport: Transport, spec: GatewaySpec| match lines
        .iter_mut()
        .find(|l| l.transport == transport)
    {
        Some(line) => line.gateways.push(spec),
        None => lines.push(Line {
            transport,
            gateways: vec![spec],
        }),
    };
    if config.gateways.is_empty() {
        if config.gateway == "off" {
            return Ok(Vec::new());
        }
        let transport = Transport::parse(&config.gateway).map_err(anyhow::Error::msg)?;
        let docks = dock_locations(depot).await?;
        add(
            transport,
            GatewaySpec {
                id: "gateway-1".into(),
                unit_id: 1,
                poll_interval: Duration::from_millis(100),
                docks,
                weight_rule: weight_rule(config),
            },
        );
    } else {
        for gateway in &config.gateways {
            let transport = Transport::parse(&gateway.transport).map_err(anyhow::Error::msg)?;
            let docks = gateway
                .docks
                .iter()
                .map(|code| {
                    LocationCode::parse(code)
                        .map(Some)
                        .map_err(|e| anyhow::anyhow!("gateway {}: docks: {e}", gateway.id))
                })
                .collect::<anyhow::Result<_>>()?;
            add(
                transport,
                GatewaySpec {
                    id: gateway.id.clone(),
                    unit_id: gateway.unit_id,
                    poll_interval: Duration::from_millis(gateway.poll_interval_ms),
                    docks,
                    weight_rule: weight_rule(config),
                },
            );
        }
    }
    Ok(lines)
}

/// Starts one task per line; each stops when `stop` turns true.
fn spawn(depot: &Depot, lines: Vec<Line>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    lines
        .into_iter()
        .map(|line| {
            tracing::info!(transport = %line.transport,
                gateways = ?line.gateways.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
                "polling gateways");
            tokio::spawn(run_line(depot.clone(), line, stop.clone()))
        })
        .collect()
}

/// Why a poll did not complete.
#[derive(Debug)]
enum PollError {
    /// Timeout or transport failure: the link is reconnected after a backoff.
    Link(String),
    /// The gateway answered with an exception: counted, polled again later.
    Exception(tokio_modbus::ExceptionCode),
    /// The answer did not decode or is inconsistent: counted, polled again.
    Malformed(String),
    /// The gateway serves a map older than version 3.
    Unsupported(u16),
    /// The depot could not store the read (nothing was acknowledged).
    Depot(String),
}

/// What a completed poll found.
enum Polled {
    /// More events wait: poll again at once.
    More,
    /// The ring is empty: wait the poll interval.
    Idle,
}

/// What the poller keeps per gateway between polls.
struct Gateway {
    spec: GatewaySpec,
    label: GatewayLabel,
    /// The map version was checked on this connection.
    checked: bool,
    /// When the status block is read next.
    status_due: Instant,
    /// Passes stored per second since `polled_since`.
    rate: PassRate,
    polled_since: Instant,
    /// The boot and its `EVENTS_OVERFLOWED` as last seen.
    overflow: Option<(u32, u32)>,
    online: bool,
    /// What the API shows, reported to the façade after each change.
    state: GatewayState,
}

impl Gateway {
    fn report(&mut self, depot: &Depot, link: LinkState, reason: Option<String>) {
        self.state.set_link(link, reason, OffsetDateTime::now_utc());
        let second = self.rate_clock();
        self.state.passes_last_minute = self.rate.last_minute(second);
        depot.report_gateway(self.state.clone());
    }

    /// Counts passes stored now.
    fn count_passes(&mut self, passes: usize) {
        let second = self.rate_clock();
        self.rate
            .record(second, u32::try_from(passes).unwrap_or(u32::MAX));
    }

    /// Whole seconds since the poller took the gateway on.
    fn rate_clock(&self) -> u64 {
        self.polled_since.elapsed().as_secs()
    }
}

async fn run_line(depot: Depot, line: Line, mut stop: watch::Receiver<bool>) {
    let mut gateways: Vec<Gateway> = line
        .gateways
        .iter()
        .map(|spec| Gateway {
            label: gateway_label(&spec.id),
            spec: spec.clone(),
            checked: false,
            status_due: Instant::now(),
            rate: PassRate::default(),
            polled_since: Instant::now(),
            overflow: None,
            online: false,
            state: GatewayState::starting(
                spec.id.clone(),
                line.transport.to_string(),
                spec.unit_id,
                spec.docks.clone(),
                OffsetDateTime::now_utc(),
            ),
        })
        .collect();
    for gateway in &mut gateways {
        depot.metrics().gates.add_gateway(&gateway.label);
        gateway.report(&depot, LinkState::Starting, None);
    }
    let mut backoff = BACKOFF_MIN;
    let mut due: HashMap<usize, Instant> = HashMap::new();
    'connect: while !*stop.borrow() {
        let mut ctx = match connect(&line.transport).await {
            Ok(ctx) => ctx,
            Err(error) => {
                for gateway in &mut gateways {
                    link_down(&depot, gateway, &error);
                }
                if pause(&mut stop, backoff).await {
                    break;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        for gateway in &mut gateways {
            gateway.checked = false;
        }
        loop {
            if *stop.borrow() {
                break 'connect;
            }
            let now = Instant::now();
            let mut next = now + BACKOFF_MAX;
            for (index, gateway) in gateways.iter_mut().enumerate() {
                let at = due.get(&index).copied().unwrap_or(now);
                if at > now {
                    next = next.min(at);
                    continue;
                }
                ctx.set_slave(Slave(gateway.spec.unit_id));
                let wait = match poll(&depot, &mut ctx, gateway).await {
                    Ok(Polled::More) => Duration::ZERO,
                    Ok(Polled::Idle) => gateway.spec.poll_interval,
                    Err(PollError::Link(error)) => {
                        link_down(&depot, gateway, &error);
                        // Another gateway on the line may still answer, but a
                        // late reply would be taken for its answer: reconnect.
                        let _ = ctx.disconnect().await;
                        if pause(&mut stop, backoff).await {
                            break 'connect;
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue 'connect;
                    }
                    Err(error) => {
                        refusal(&depot, gateway, &error);
                        gateway.spec.poll_interval.max(BACKOFF_MIN)
                    }
                };
                backoff = BACKOFF_MIN;
                let at = Instant::now() + wait;
                due.insert(index, at);
                next = next.min(at);
            }
            let now = Instant::now();
            if next > now && pause(&mut stop, next - now).await {
                break 'connect;
            }
        }
    }
    for gateway in &gateways {
        depot
            .metrics()
            .gates
            .online
            .get_or_create(&gateway.label)
            .set(0);
    }
}

/// Waits `duration` or until asked to stop; true if asked to stop.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        () = sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

async fn connect(transport: &Transport) -> Result<Context, String> {
    match transport {
        Transport::Tcp(address) => {
            let socket = timeout(REPLY_TIMEOUT, tokio::net::lookup_host(address.as_str()))
                .await
                .map_err(|_| format!("resolving {address} timed out"))?
                .map_err(|e| format!("cannot resolve {address}: {e}"))?
                .next()
                .ok_or_else(|| format!("{address} resolves to no address"))?;
            let stream = timeout(REPLY_TIMEOUT, tokio::net::TcpStream::connect(socket))
                .await
                .map_err(|_| format!("connecting to {address} timed out"))?
                .map_err(|e| format!("cannot connect to {address}: {e}"))?;
            let _ = stream.set_nodelay(true);
            Ok(tokio_modbus::client::tcp::attach(stream))
        }
        Transport::Rtu { path, baud } => {
            let port = tokio_serial::SerialStream::open(&tokio_serial::new(path, *baud))
                .map_err(|e| format!("cannot open {path}: {e}"))?;
            // The RS-485 driver-enable pin, where one is configured (`rpi.rs`).
            #[cfg(feature = "rpi")]
            let port = match crate::rpi::driver_enabled(port, *baud) {
                Ok(driven) => return Ok(tokio_modbus::client::rtu::attach(driven)),
                Err(port) => port,
            };
            Ok(tokio_modbus::client::rtu::attach(port))
        }
    }
}

fn link_down(depot: &Depot, gateway: &mut Gateway, error: &str) {
    let gates = &depot.metrics().gates;
    gates.link_errors.get_or_create(&gateway.label).inc();
    gates.online.get_or_create(&gateway.label).set(0);
    if gateway.online {
        tracing::warn!(gateway = %gateway.spec.id, %error, "gateway offline");
    } else {
        tracing::debug!(gateway = %gateway.spec.id, %error, "gateway still offline");
    }
    gateway.online = false;
    gateway.checked = false;
    gateway.state.link_errors += 1;
    gateway.report(depot, LinkState::Offline, Some(error.to_owned()));
}

fn refusal(depot: &Depot, gateway: &mut Gateway, error: &PollError) {
    let gates = &depot.metrics().gates;
    let reason = match error {
        PollError::Exception(code) => format!("exception {code:?}"),
        PollError::Malformed(what) => format!("malformed answer: {what}"),
        PollError::Unsupported(version) => {
            format!("register map version {version}, needs {MAP_VERSION}")
        }
        PollError::Depot(error) => format!("cannot store events: {error}"),
        PollError::Link(error) => error.clone(),
    };
    match error {
        PollError::Exception(_) => gateway.state.exceptions += 1,
        PollError::Malformed(_) => gateway.state.malformed += 1,
        _ => {}
    }
    gateway.report(depot, LinkState::Degraded, Some(reason));
    match error {
        PollError::Exception(code) => {
            gates.exceptions.get_or_create(&gateway.label).inc();
            tracing::warn!(gateway = %gateway.spec.id, ?code, "gateway answered with an exception");
        }
        PollError::Malformed(what) => {
            gates.malformed.get_or_create(&gateway.label).inc();
            tracing::warn!(gateway = %gateway.spec.id, %what, "gateway answer did not decode; nothing stored");
        }
        PollError::Unsupported(version) => {
            tracing::error!(gateway = %gateway.spec.id, version, needed = MAP_VERSION,
                "gateway serves an older register map; not drained");
        }
        PollError::Depot(error) => {
            tracing::warn!(gateway = %gateway.spec.id, %error, "cannot store gate events; nothing acknowledged");
        }
        PollError::Link(_) => {}
    }
}

/// Reads input registers, both error layers mapped.
async fn read(ctx: &mut Context, start: u16, count: u16) -> Result<Vec<u16>, PollError> {
    match timeout(REPLY_TIMEOUT, ctx.read_input_registers(start, count)).await {
        Err(_) => Err(PollError::Link("no answer in time".into())),
        Ok(Err(error)) => Err(PollError::Link(error.to_string())),
        Ok(Ok(Err(code))) => Err(PollError::Exception(code)),
        Ok(Ok(Ok(regs))) if regs.len() == usize::from(count) => Ok(regs),
        Ok(Ok(Ok(regs))) => Err(PollError::Malformed(format!(
            "{} registers where {count} were asked for",
            regs.len()
        ))),
    }
}

/// Writes holding registers, both error layers mapped.
async fn write(ctx: &mut Context, start: u16, values: &[u16]) -> Result<(), PollError> {
    match timeout(REPLY_TIMEOUT, ctx.write_multiple_registers(start, values)).await {
        Err(_) => Err(PollError::Link("no answer in time".into())),
        Ok(Err(error)) => Err(PollError::Link(error.to_string())),
        Ok(Ok(Err(code))) => Err(PollError::Exception(code)),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}

/// One poll of one gateway: check the map once per connection, read the
/// drain block, name an unnamed boot, store the new events through the
/// façade, and acknowledge what the façade committed.
async fn poll(
    depot: &Depot,
    ctx: &mut Context,
    gateway: &mut Gateway,
) -> Result<Polled, PollError> {
    let gates = &depot.metrics().gates;
    if !gateway.checked || Instant::now() >= gateway.status_due {
        read_status(ctx, gateway, gates).await?;
        gateway.checked = true;
    }
    let regs = read(ctx, DrainBlock::START, DrainBlock::LEN).await?;
    if !gateway.online {
        tracing::info!(gateway = %gateway.spec.id, "gateway online");
        gateway.online = true;
    }
    gates.online.get_or_create(&gateway.label).set(1);
    gateway.state.last_poll = Some(OffsetDateTime::now_utc());
    let block = DrainBlock::from_registers(&regs)
        .map_err(|e| PollError::Malformed(format!("drain block: {e:?}")))?;
    gateway.state.boot_id = Some(block.boot_id).filter(|&id| id != 0);
    let scale = format!("{:?}", block.scale_status).to_lowercase();
    gateway.state.scale = Some((scale, block.weight_grams));
    if block.boot_id == 0 {
        let stored = depot
            .gate_cursor(&gateway.spec.id)
            .await
            .map_err(|e| PollError::Depot(e.to_string()))?;
        let id = loop {
            let id: u32 = rand::thread_rng().gen();
            if id != 0 && stored.is_none_or(|c| c.boot_id != id) {
                break id;
            }
        };
        write(
            ctx,
            holding::BOOT_ID,
            &gateway_registers::u32_to_registers(id),
        )
        .await?;
        gates.boots.get_or_create(&gateway.label).inc();
        tracing::info!(gateway = %gateway.spec.id, boot_id = id, "named a new gateway boot");
        return Ok(Polled::More);
    }
    note_overflow(gateway, &block, gates);
    let events = events_of(&block, &gateway.spec)?;
    gateway.report(depot, LinkState::Online, None);
    if events.is_empty() {
        return Ok(Polled::Idle);
    }
    let read_count = events.len();
    let ingest = depot
        .ingest_gate_read(GateRead {
            gateway: gateway.spec.id.clone(),
            boot_id: block.boot_id,
            weight_grams: block.weight_grams,
            weight_rule: gateway.spec.weight_rule,
            events,
        })
        .await
        .map_err(|e| PollError::Depot(e.to_string()))?;
    gateway.count_passes(ingest.stored.len());
    gateway.report(depot, LinkState::Online, None);
    let stored = u64::try_from(ingest.stored.len()).unwrap_or(u64::MAX);
    gates
        .passes_stored
        .get_or_create(&gateway.label)
        .inc_by(stored);
    gates
        .weight_implausible
        .get_or_create(&gateway.label)
        .inc_by(u64::try_from(ingest.implausible).unwrap_or(u64::MAX));
    gates
        .events_repeated
        .get_or_create(&gateway.label)
        .inc_by(u64::try_from(ingest.repeated).unwrap_or(u64::MAX));
    if ingest.skipped > 0 {
        gateway.state.events_lost += u64::from(ingest.skipped);
        gates
            .events_lost
            .get_or_create(&gateway.label)
            .inc_by(u64::from(ingest.skipped));
        tracing::warn!(gateway = %gateway.spec.id, lost = ingest.skipped,
            "gate events were freed before the server stored them");
    }
    // Committed: now the gateway may free them.
    let ack = DrainBlock::ack_registers(ingest.cursor.boot_id, ingest.cursor.acked_seq);
    write(ctx, holding::ACK_BOOT_ID, &ack).await?;
    if usize::from(block.events.header.count) > read_count {
        Ok(Polled::More)
    } else {
        Ok(Polled::Idle)
    }
}

/// Reads the status block (map version, firmware, uptime, the gateway's own
/// counters): once per connection before the first drain, so an old map is
/// never drained, and every [`STATUS_INTERVAL`] after.
async fn read_status(
    ctx: &mut Context,
    gateway: &mut Gateway,
    gates: &crate::metrics::GateMetrics,
) -> Result<(), PollError> {
    let regs = read(ctx, 0, input::EVENT_COUNT).await?;
    gateway.status_due = Instant::now() + STATUS_INTERVAL;
    let version = regs[usize::from(input::MAP_VERSION)];
    gateway.state.map_version = Some(version);
    if version < MAP_VERSION {
        return Err(PollError::Unsupported(version));
    }
    let status = GatewayStatus::from_registers(&regs)
        .map_err(|e| PollError::Malformed(format!("status block: {e:?}")))?;
    gateway.state.status = Some((status, OffsetDateTime::now_utc()));
    gates
        .gateway_crc_errors
        .get_or_create(&gateway.label)
        .set(i64::from(status.counters.frames_crc_error));
    Ok(())
}

/// Reports `EVENTS_OVERFLOWED` growth within a boot (and what a newly seen
/// boot had already lost) as lost events.
fn note_overflow(gateway: &mut Gateway, block: &DrainBlock, gates: &crate::metrics::GateMetrics) {
    let before = match gateway.overflow {
        Some((boot, count)) if boot == block.boot_id => count,
        _ => 0,
    };
    if block.events_overflowed > before {
        let lost = block.events_overflowed - before;
        gates
            .events_lost
            .get_or_create(&gateway.label)
            .inc_by(u64::from(lost));
        tracing::warn!(gateway = %gateway.spec.id, lost, total = block.events_overflowed,
            "the gateway's event ring overflowed: gate events lost");
    }
    gateway.overflow = Some((block.boot_id, block.events_overflowed));
}

/// The window's events, checked for order and decoded for the façade.
fn events_of(block: &DrainBlock, spec: &GatewaySpec) -> Result<Vec<GateEvent>, PollError> {
    let records: Vec<&EventRecord> = block.events.events().collect();
    let header = &block.events.header;
    let consecutive = records
        .windows(2)
        .all(|w| w[1].seq == w[0].seq.wrapping_add(1));
    let starts_right = records.first().is_none_or(|r| r.seq == header.oldest_seq);
    let window = usize::from(gateway_registers::EVENT_WINDOW_RECORDS);
    if !consecutive || !starts_right || records.len() != usize::from(header.count).min(window) {
        return Err(PollError::Malformed(format!(
            "the window holds seqs {:?} but the header says {} waiting from seq {}",
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            header.count,
            header.oldest_seq
        )));
    }
    Ok(records
        .into_iter()
        .map(|record| {
            let (bytes, len) = record.epc_bytes();
            let epc_hex = hex::encode_upper(&bytes[..len]);
            GateEvent {
                seq: record.seq,
                gate: record.gate,
                dock: spec.docks.get(usize::from(record.gate)).cloned().flatten(),
                direction: match record.direction {
                    gateway_registers::Direction::In => Direction::In,
                    gateway_registers::Direction::Out => Direction::Out,
                    gateway_registers::Direction::Unknown => Direction::Unknown,
                },
                epc: epc_of(record, &epc_hex),
                epc_hex,
                rssi_dbm: record.rssi_dbm,
                antenna: record.antenna,
                gateway_ms: record.timestamp_ms,
            }
        })
        .collect())
}

fn epc_of(record: &EventRecord, hex: &str) -> Result<EpcRef, String> {
    if record.is_truncated() {
        return Err(format!(
            "the tag's EPC has {} words, more than a record holds",
            record.epc_words
        ));
    }
    if hex.is_empty() {
        return Err("the tag reported no EPC".into());
    }
    epc::parse(hex).map_err(|reason| format!("EPC {hex}: {reason}"))
}
