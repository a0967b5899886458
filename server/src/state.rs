//! What every request shares: the data folder's stores, each behind its own lock or pool, the
//! audit writer, the login limiter and the clock.
//!
//! SQLite is blocking, so every store is used from `spawn_blocking`. The journal has a pool of
//! connections (WAL: readers never block the writer, whether that writer is this server giving
//! a verdict or a `passwatch run` storing events); the access store and the registry have one
//! connection each (their writes are rare and short).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passwatch_base::time::{Clock, WallTime};
use passwatch_events::audit::{AuditError, AuditLog, AuditRecord};
use passwatch_events::{EventError, Journal};
use passwatch_pipeline::live::metrics::Metrics;
use passwatch_registry::Registry;
use tokio::sync::oneshot;

use crate::access::{AccessError, AccessStore};

/// Where a server's state comes from.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The data folder: `journal.db`, `evidence/`, `access.db`, `audit.db`.
    pub data_dir: PathBuf,
    /// The registry database.
    pub registry: PathBuf,
    /// Whether the listener speaks TLS (session cookies are `Secure` then).
    pub tls: bool,
    /// Journal connections for reads.
    pub journal_connections: usize,
    /// The site's retention, applied hourly and by `POST /api/purge`; `None`: keep everything.
    pub retention: Option<passwatch_events::retention::RetentionPolicy>,
}

impl ServerConfig {
    /// The defaults for a data folder: the registry at `DIR/registry.db`, no TLS, one journal
    /// connection per core (at least 4).
    pub fn new(data_dir: impl AsRef<Path>) -> ServerConfig {
        let data_dir = data_dir.as_ref().to_owned();
        ServerConfig {
            registry: data_dir.join("registry.db"),
            data_dir,
            tls: false,
            journal_connections: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(4),
            retention: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder could not be made.
    #[error("data folder {}", path.display())]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] EventError),
    /// The access store could not be opened.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The registry could not be opened.
    #[error(transparent)]
    Registry(#[from] passwatch_registry::RegistryError),
}

/// A fixed set of connections, handed out round-robin.
pub struct Pool<T> {
    items: Vec<Mutex<T>>,
    next: AtomicUsize,
}

impl<T> Pool<T> {
    fn new(items: Vec<T>) -> Pool<T> {
        Pool {
            items: items.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on a free connection (or waits for the next one round-robin).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let n = self.items.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(mut item) = self.items[(start + i) % n].try_lock() {
                return f(&mut item);
            }
        }
        let mut item = self.items[start % n]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut item)
    }
}

type AuditJob = (AuditRecord, oneshot::Sender<Result<u64, String>>);

/// The audit writer: one thread owning `audit.db`, committing the records of every request
/// waiting at that moment in one transaction (group commit), and answering each request once
/// its record is durable.
#[derive(Clone)]
pub struct AuditWriter {
    tx: std::sync::mpsc::SyncSender<AuditJob>,
}

impl AuditWriter {
    fn start(mut log: AuditLog, clock: Arc<dyn Clock + Send + Sync>) -> AuditWriter {
        let (tx, rx) = std::sync::mpsc::sync_channel::<AuditJob>(4096);
        std::thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < 512 {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let records: Vec<AuditRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
                    match log.append(&records, clock.now()) {
                        Ok(seqs) => {
                            for ((_, reply), seq) in batch.into_iter().zip(seqs) {
                                let _ = reply.send(Ok(seq));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the audit log cannot be written");
                            for (_, reply) in batch {
                                let _ = reply.send(Err(e.to_string()));
                            }
                        }
                    }
                }
            })
            .expect("spawning the audit writer thread");
        AuditWriter { tx }
    }

    /// Records `record`; returns once it is durable, with its sequence number.
    pub async fn record(&self, record: AuditRecord) -> Result<u64, String> {
        let (reply, rx) = oneshot::channel();
        // The channel is bounded: a full one waits (on a blocking thread), it never drops.
        match self.tx.try_send((record, reply)) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(job)) => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || tx.send(job).map_err(|_| ()))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|()| "the audit writer has stopped".to_owned())?;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err("the audit writer has stopped".to_owned())
            }
        }
        rx.await
            .map_err(|_| "the audit writer has stopped".to_owned())?
    }
}

/// Checkpoints the audit log's WAL every second from its own connection, so that no request
/// waits for a checkpoint inside the audit writer's commit (SQLite would otherwise run one, with
/// its fsyncs, inside whichever commit crosses 1000 pages). The thread lives as long as the
/// process.
fn start_checkpointer(log: AuditLog) {
    let spawned = std::thread::Builder::new()
        .name("audit-checkpoint".to_owned())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            if let Err(e) = log.checkpoint() {
                tracing::warn!(error = %e, "audit log checkpoint failed; retrying in a second");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the audit checkpointer; the WAL grows until restart");
    }
}

/// Failed logins remembered per user name and per client address: after
/// [`LoginLimiter::MAX_FAILURES`] in [`LoginLimiter::WINDOW`], further attempts are refused
/// (429) until the oldest failure leaves the window.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// Failures allowed in the window.
    pub const MAX_FAILURES: usize = 5;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn keys(user: &str, ip: Option<IpAddr>) -> Vec<String> {
        let mut keys = vec![format!("user:{user}")];
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
        }
        keys
    }

    /// `Some(seconds to wait)` when this user or address has failed too often.
    pub fn blocked(&self, user: &str, ip: Option<IpAddr>) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in Self::keys(user, ip) {
            if let Some(times) = map.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < Self::WINDOW);
                if times.len() >= Self::MAX_FAILURES {
                    let oldest = times[0];
                    let left = Self::WINDOW.saturating_sub(now.duration_since(oldest));
                    wait = Some(wait.unwrap_or(0).max(left.as_secs().max(1)));
                }
            }
        }
        wait
    }

    /// Remembers a failed login.
    pub fn failed(&self, user: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // A flood of names: forget the oldest state rather than grow without bound.
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < Self::WINDOW));
        }
        for key in Self::keys(user, ip) {
            map.entry(key).or_default().push(now);
        }
    }

    /// Forgets a user's failures after a good login (the address's stay).
    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{user}"));
    }
}

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    /// How it was configured.
    pub config: ServerConfig,
    /// Journal connections.
    pub journal: Pool<Journal>,
    /// The access store.
    pub access: Mutex<AccessStore>,
    /// The registry.
    pub registry: Mutex<Registry>,
    /// The audit writer.
    pub audit: AuditWriter,
    /// A second handle on the audit log, for reading and verifying.
    pub audit_reader: Mutex<AuditLog>,
    /// Failed logins.
    pub limiter: LoginLimiter,
    /// The clock (tests set it).
    pub clock: Arc<dyn Clock + Send + Sync>,
    /// The live cameras' metrics, when mounted in `passwatch run`.
    pub metrics: Option<Arc<Metrics>>,
    /// The face models for enrolment, loaded at the first enrolment (a server that never
    /// enrols never loads them).
    pub faces: Mutex<Option<passwatch_face_matcher::FaceMatcher>>,
}

impl AppState {
    /// Opens the stores of `config.data_dir`.
    pub fn open(
        config: ServerConfig,
        clock: Arc<dyn Clock + Send + Sync>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<AppState, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let dir = &config.data_dir;
        let journals = (0..config.journal_connections.max(1))
            .map(|_| Journal::open(dir.join("journal.db")))
            .collect::<Result<Vec<_>, _>>()?;
        let audit_path = dir.join("audit.db");
        let writer = AuditWriter::start(
            AuditLog::open(&audit_path)?.without_autocheckpoint()?,
            clock.clone(),
        );
        start_checkpointer(AuditLog::open(&audit_path)?);
        Ok(AppState(Arc::new(Inner {
            journal: Pool::new(journals),
            access: Mutex::new(AccessStore::open(dir.join("access.db"))?),
            registry: Mutex::new(Registry::open(&config.registry)?),
            audit: writer,
            audit_reader: Mutex::new(AuditLog::open(&audit_path)?),
            limiter: LoginLimiter::default(),
            clock,
            metrics,
            faces: Mutex::new(None),
            config,
        })))
    }

    /// Now, by the state's clock.
    pub fn now(&self) -> WallTime {
        self.0.clock.now()
    }
}

/// Locks a mutex, taking it back from a panicked holder (the stores stay consistent: each
/// change is one SQLite transaction).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
