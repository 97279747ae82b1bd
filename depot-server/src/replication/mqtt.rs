//! The rumqttc adapter, kept thin: the broker address from `mqtt_url`
//! (`mqtt://`, or `mqtts://` with rustls: the broker verified by the
//! configured CA and its host name or IP address, and a client certificate), one
//! connection per session with the `offline` status as its Last Will, and
//! the event loop turned into the few link events the publisher needs. It
//! also subscribes to the hub's resend requests for this depot.
//!
//! rumqttc keeps unacknowledged messages only in memory and would replay
//! them itself after a reconnect; the publisher never reuses an event loop
//! after an error, so the database stays the only queue and nothing is sent
//! twice by two mechanisms.

use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::payload::Message;
pub use feed_contract::{Broker, Tls};

/// What the event loop reports.
#[derive(Debug, PartialEq, Eq)]
pub enum Link {
    /// The broker accepted the connection (CONNACK).
    Connected,
    /// A publish went out with this packet id (in the order of `publish`).
    Sent(u16),
    /// PUBACK for this packet id.
    Acked(u16),
    /// A request from the hub (the payload of a publish on `requests`).
    Request(Vec<u8>),
    /// The connection failed or ended; this session is over.
    Lost(String),
}

/// One connection. Dropping it ends the event loop.
pub struct Session {
    client: AsyncClient,
    poller: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Connection settings besides the broker.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    pub client_id: String,
    pub keep_alive: Duration,
    /// Messages in flight at most (rumqttc's own limit is set to it).
    pub window: u16,
    /// The topic the hub's requests arrive on, subscribed after each connect.
    pub requests: String,
}

/// Starts connecting; link events arrive on the returned receiver.
pub fn connect(
    broker: &Broker,
    tls: Option<&Tls>,
    options: &LinkOptions,
    will: &Message,
) -> (Session, mpsc::UnboundedReceiver<Link>) {
    let mut mqtt = MqttOptions::new(&options.client_id, &broker.host, broker.port);
    mqtt.set_keep_alive(options.keep_alive)
        // The depot's database is the session: the broker keeps none.
        .set_clean_session(true)
        .set_inflight(options.window)
        .set_last_will(LastWill::new(
            &will.topic,
            will.payload.clone(),
            QoS::AtLeastOnce,
            will.retain,
        ));
    if let Some((user, password)) = &broker.credentials {
        mqtt.set_credentials(user, password);
    }
    if let Some(tls) = tls {
        mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca: tls.ca.clone(),
            alpn: None,
            client_auth: tls.client.clone(),
        }));
    }
    // Room for the whole window plus the status, the subscription and a
    // disconnect: `publish` never finds the channel full.
    let (client, mut eventloop) = AsyncClient::new(mqtt, usize::from(options.window) + 5);
    eventloop.network_options.set_connection_timeout(5);
    let (events, receiver) = mpsc::unbounded_channel();
    let subscriber = client.clone();
    let requests = options.requests.clone();
    let poller = tokio::spawn(async move {
        loop {
            let link = match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    // A clean session keeps no subscription: ask again each time.
                    if let Err(error) = subscriber.try_subscribe(&requests, QoS::AtLeastOnce) {
                        tracing::warn!(%error, "cannot subscribe to the hub's requests");
                    }
                    Link::Connected
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    Link::Request(publish.payload.to_vec())
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => Link::Acked(ack.pkid),
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Link::Sent(pkid),
                Ok(_) => continue,
                Err(error) => {
                    let _ = events.send(Link::Lost(error.to_string()));
                    return;
                }
            };
            if events.send(link).is_err() {
                return;
            }
        }
    });
    (Session { client, poller }, receiver)
}

impl Session {
    /// Queues a QoS 1 publish; an error means the session is over.
    pub fn publish(&self, message: Message) -> Result<(), String> {
        self.client
            .try_publish(
                message.topic,
                QoS::AtLeastOnce,
                message.retain,
                message.payload,
            )
            .map_err(|error| error.to_string())
    }

    /// Sends DISCONNECT after what is queued (the broker then drops the Last Will).
    pub fn disconnect(&self) {
        let _ = self.client.try_disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            Broker::parse("mqtt://hub.example:1884").expect("url"),
            Broker {
                host: "hub.example".into(),
                port: 1884,
                credentials: None,
                tls: false,
            }
        );
        let with_user = Broker::parse("mqtt://depot:s3cret@10.0.0.5").expect("url");
        assert_eq!(with_user.port, 1883);
        assert_eq!(
            with_user.credentials,
            Some(("depot".into(), "s3cret".into()))
        );
        assert!(!format!("{with_user:?}").contains("s3cret"));
        let tls = Broker::parse("mqtts://hub").expect("url");
        assert_eq!((tls.port, tls.tls), (8883, true));
        for bad in [
            "mqtt://",
            "mqtt://host:x",
            "mqtt://host:70000",
            "http://h",
            "mqtts://",
        ] {
            assert!(Broker::parse(bad).is_err(), "{bad}");
        }
    }
}
