//! A TCP proxy on 127.0.0.1 that can go silent the way a dead network path does:
//! `freeze` stops moving bytes on every open connection without closing any (no
//! FIN, no RST: the client's kernel keeps them established), and holds new
//! connections the same way; `thaw_new` lets new connections through again while
//! the frozen ones stay frozen for good. A client only gets past that by timing
//! its connections out, as it must when a load balancer or an API server endpoint
//! disappears behind a live TCP connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FreezingProxy {
    pub port: u16,
    /// Connections opened at or before this generation are frozen.
    frozen_up_to: Arc<AtomicU64>,
    /// While set, new connections are frozen too.
    holding: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    pub async fn start(upstream_port: u16) -> FreezingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let frozen_up_to = Arc::new(AtomicU64::new(0));
        let holding = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let (f, h, g) = (frozen_up_to.clone(), holding.clone(), generation.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let id = g.fetch_add(1, Ordering::SeqCst) + 1;
                let (f, h) = (f.clone(), h.clone());
                tokio::spawn(async move {
                    if h.load(Ordering::SeqCst) {
                        // Opened during the outage: accepted, never answered.
                        f.fetch_max(id, Ordering::SeqCst);
                    }
                    let _ = pipe(conn, upstream_port, id, f).await;
                });
            }
        });
        FreezingProxy {
            port,
            frozen_up_to,
            holding,
            generation,
            task,
        }
    }

    /// Every open connection goes silent, and so does every new one.
    pub fn freeze(&self) {
        self.holding.store(true, Ordering::SeqCst);
        self.frozen_up_to
            .fetch_max(self.generation.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// New connections work again; the frozen ones stay silent.
    pub fn thaw_new(&self) {
        self.frozen_up_to
            .fetch_max(self.generation.load(Ordering::SeqCst), Ordering::SeqCst);
        self.holding.store(false, Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    client: TcpStream,
    upstream_port: u16,
    id: u64,
    frozen_up_to: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let frozen = move || frozen_up_to.load(Ordering::SeqCst) >= id;
    tokio::select! {
        r = copy(cr, uw, frozen.clone()) => r,
        r = copy(ur, cw, frozen) => r,
    }
}

/// Bytes from one side to the other until it closes; once frozen, whatever comes
/// next (bytes, the end, an error) parks the copy for good, holding both halves
/// open so the client sees neither data nor a close.
async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: impl Fn() -> bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = from.read(&mut buf).await;
        if frozen() {
            std::future::pending::<()>().await;
        }
        let n = read?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
    }
}
