//! The listener's bound on connections (an adapter under `http` and `tls`):
//! at most `max_connections` are open at once, TLS handshakes included. The
//! next connection is accepted only when one closes, so further clients
//! wait in the kernel's accept queue (past it, their connection attempts are
//! retried by their TCP stack) rather than being refused: a handheld that
//! arrives during a rush is served late, not turned away.
//!
//! A connection that moves no byte either way for [`IDLE_TIMEOUT`] is
//! closed, so idle keep-alive connections (or a client that opens one and
//! sends nothing) cannot hold the slots for ever. A Server-Sent Events
//! stream sends a keep-alive comment every 15 s and is never idle that long.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::http::limits::ClientAddress;

/// How long a connection may move no byte before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP listener that holds at most a given number of connections open.
#[derive(Debug)]
pub struct BoundedListener {
    tcp: TcpListener,
    /// One permit per open connection; `None` = no bound.
    permits: Option<Arc<Semaphore>>,
    idle_timeout: Duration,
}

impl BoundedListener {
    /// Bounds `tcp` to `max_connections` open connections (0 = no bound),
    /// each closed after `idle_timeout` without a byte moved.
    pub fn new(tcp: TcpListener, max_connections: usize, idle_timeout: Duration) -> Self {
        let permits = (max_connections > 0).then(|| Arc::new(Semaphore::new(max_connections)));
        Self {
            tcp,
            permits,
            idle_timeout,
        }
    }

    /// Waits for a free slot, then for the next connection.
    pub async fn accept(&self) -> io::Result<(Connection, SocketAddr)> {
        let permit = match &self.permits {
            Some(permits) => Some(
                permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| io::Error::other("the connection bound was closed"))?,
            ),
            None => None,
        };
        let (stream, peer) = self.tcp.accept().await?;
        Ok((Connection::new(stream, permit, self.idle_timeout), peer))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match BoundedListener::accept(self).await {
                Ok(connection) => return connection,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        BoundedListener::local_addr(self)
    }
}

impl Connected<IncomingStream<'_, BoundedListener>> for ClientAddress {
    fn connect_info(stream: IncomingStream<'_, BoundedListener>) -> Self {
        ClientAddress(*stream.remote_addr())
    }
}

/// An accepted connection: holds its slot until dropped, and fails a read
/// once it has been idle for its listener's idle timeout.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Connection {
    fn new(stream: TcpStream, slot: Option<OwnedSemaphorePermit>, idle_timeout: Duration) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            _slot: slot,
        }
    }

    /// The TCP stream underneath (e.g. to peek at the first byte).
    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// A byte moved: the idle time starts again.
    fn moved(&mut self) {
        self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
            failed => failed,
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                this.moved();
            }
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                this.moved();
            }
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_second_connection_waits_until_the_first_closes() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let listener = BoundedListener::new(tcp, 1, IDLE_TIMEOUT);
        let _first_client = TcpStream::connect(address).await.unwrap();
        let (first, _) = listener.accept().await.unwrap();
        let _second_client = TcpStream::connect(address).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            waiting.is_err(),
            "the second connection was accepted at once"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
        assert!(
            matches!(second, Ok(Ok(_))),
            "not accepted after the first closed"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_fails_its_read_and_traffic_keeps_it_open() {
        let idle = Duration::from_millis(300);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let listener = BoundedListener::new(tcp, 0, idle);
        let mut client = TcpStream::connect(address).await.unwrap();
        let (mut connection, _) = listener.accept().await.unwrap();
        let writer = tokio::spawn(async move {
            // A byte every 100 ms for a second: three idle timeouts' worth.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                client.write_all(b"x").await.unwrap();
            }
            client
        });
        let mut byte = [0_u8; 1];
        for n in 0..10 {
            connection
                .read_exact(&mut byte)
                .await
                .unwrap_or_else(|e| panic!("byte {n}: {e}"));
        }
        let _client = writer.await.unwrap();
        let started = std::time::Instant::now();
        let failed = connection.read(&mut byte).await.unwrap_err();
        assert_eq!(failed.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= idle / 2, "{:?}", started.elapsed());
    }
}
