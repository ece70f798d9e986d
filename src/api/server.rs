//! Serving the router on a socket, with the limits that keep slow or greedy clients from taking
//! the server down: a deadline for a request's headers (which also closes idle keep-alive
//! connections) and for its body, at most so many connections per client address and in all (below
//! the open-file limit), and a few connections beyond those caps kept for `/healthz` alone, so a
//! monitor still gets an answer while the server is full.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How many connections the server takes, and how long a client may take to send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; `None`: what the open-file limit leaves room for.
    pub max_connections: Option<usize>,
    pub per_address: usize,
    /// To send a request's headers; also how long an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// To send a request's body.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: None,
            per_address: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// File descriptors left for the data file, logs, the Odoo client and the health connections.
const RESERVED_FILES: usize = 128;
/// Connections beyond the caps that may still ask for `/healthz` (one request each, quickly).
const HEALTH_SLOTS: usize = 16;
const HEALTH_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

impl ConnectionLimits {
    /// The connection cap in force: the configured one, never above what the open-file limit
    /// allows with [`RESERVED_FILES`] kept free.
    pub fn effective_max_connections(&self) -> usize {
        let by_files = open_file_limit()
            .map(|limit| limit.saturating_sub(RESERVED_FILES + HEALTH_SLOTS))
            .unwrap_or(usize::MAX);
        self.max_connections
            .unwrap_or(by_files)
            .min(by_files)
            .max(1)
    }
}

/// The soft open-file limit of this process (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Who holds how many connections.
#[derive(Default)]
struct Occupancy {
    total: usize,
    health: usize,
    by_address: HashMap<IpAddr, usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Regular,
    HealthOnly,
}

/// Gives a slot back when its connection ends.
struct Held {
    occupancy: Arc<Mutex<Occupancy>>,
    address: IpAddr,
    slot: Slot,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut occupancy = self.occupancy.lock().unwrap_or_else(|p| p.into_inner());
        match self.slot {
            Slot::Regular => {
                occupancy.total -= 1;
                if let Some(count) = occupancy.by_address.get_mut(&self.address) {
                    *count -= 1;
                    if *count == 0 {
                        occupancy.by_address.remove(&self.address);
                    }
                }
            }
            Slot::HealthOnly => occupancy.health -= 1,
        }
    }
}

fn admit(
    occupancy: &Arc<Mutex<Occupancy>>,
    address: IpAddr,
    limits: &ConnectionLimits,
    max: usize,
) -> Option<Held> {
    let mut state = occupancy.lock().unwrap_or_else(|p| p.into_inner());
    let mine = state.by_address.get(&address).copied().unwrap_or(0);
    let slot = if state.total < max && mine < limits.per_address {
        state.total += 1;
        *state.by_address.entry(address).or_default() += 1;
        Slot::Regular
    } else if state.health < HEALTH_SLOTS {
        state.health += 1;
        Slot::HealthOnly
    } else {
        return None;
    };
    Some(Held {
        occupancy: occupancy.clone(),
        address,
        slot,
    })
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_timeout,
    ));
    let max = limits.effective_max_connections();
    tracing::info!(
        max_connections = max,
        per_address = limits.per_address,
        "accepting connections"
    );
    let occupancy = Arc::new(Mutex::new(Occupancy::default()));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: keep serving.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = admit(&occupancy, peer.ip(), &limits, max) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = connection_service(app.clone(), peer, held.slot);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new());
        match held.slot {
            Slot::Regular => http.header_read_timeout(limits.header_timeout),
            Slot::HealthOnly => http
                .header_read_timeout(HEALTH_HEADER_TIMEOUT)
                .keep_alive(false),
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _held = held;
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

type ServiceFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send + 'static>,
>;

/// The router for one connection, with the peer's address for the handlers; on a health-only
/// slot, everything but `/healthz` is told the server is full.
fn connection_service(
    app: Router,
    peer: SocketAddr,
    slot: Slot,
) -> TowerToHyperService<
    impl tower::Service<
        Request<Incoming>,
        Response = Response,
        Error = Infallible,
        Future = ServiceFuture,
    > + Clone,
> {
    let service = tower::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        let future: ServiceFuture = Box::pin(async move {
            if slot == Slot::HealthOnly && request.uri().path() != "/healthz" {
                return Ok(super::ApiError::body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is at its connection limit; try again shortly",
                ));
            }
            app.oneshot(request.map(axum::body::Body::new)).await
        });
        future
    });
    TowerToHyperService::new(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_beyond_the_caps_get_health_slots_then_nothing() {
        let limits = ConnectionLimits {
            per_address: 2,
            ..ConnectionLimits::default()
        };
        let occupancy = Arc::new(Mutex::new(Occupancy::default()));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let first: Vec<Held> = (0..2)
            .filter_map(|_| admit(&occupancy, a, &limits, 3))
            .collect();
        assert!(first.iter().all(|h| h.slot == Slot::Regular));
        let over = admit(&occupancy, a, &limits, 3).expect("a health slot");
        assert!(over.slot == Slot::HealthOnly, "over the per-address cap");
        let other = admit(&occupancy, b, &limits, 3).expect("room in total");
        assert!(other.slot == Slot::Regular);
        let full = admit(&occupancy, b, &limits, 3).expect("a health slot");
        assert!(full.slot == Slot::HealthOnly, "over the total cap");
        let health: Vec<Held> = (0..HEALTH_SLOTS)
            .filter_map(|_| admit(&occupancy, b, &limits, 3))
            .collect();
        assert_eq!(health.len(), HEALTH_SLOTS - 2);
        assert!(admit(&occupancy, b, &limits, 3).is_none(), "nothing left");
        drop(first);
        let again = admit(&occupancy, a, &limits, 3).expect("slots came back");
        assert!(again.slot == Slot::Regular);
        let state = occupancy.lock().expect("lock");
        assert_eq!((state.total, state.health), (2, HEALTH_SLOTS));
    }

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        let limit = open_file_limit().expect("Linux reports its limits");
        let huge = ConnectionLimits {
            max_connections: Some(usize::MAX),
            ..ConnectionLimits::default()
        };
        assert!(huge.effective_max_connections() < limit);
        let small = ConnectionLimits {
            max_connections: Some(10),
            ..ConnectionLimits::default()
        };
        assert_eq!(small.effective_max_connections(), 10);
    }
}
