//! The registry as a live run decides against it: one immutable [`Snapshots`] (passes and
//! watchlist at one registry version) behind an `Arc`, swapped whole when the registry changes.
//!
//! A watcher thread ([`RegistryWatcher`]) reads the registry's current version every second
//! (one indexed `MAX()` query: cheap); when it changed (an import, an enrolment, a revocation by
//! another process), it builds the new snapshots off to the side and swaps them in. A worker
//! takes the current `Arc` once per frame, so every decision of that frame uses one consistent
//! version, which the events record (`decision.registry_version`). A reload that fails (the
//! database locked for longer than the busy timeout, a disk error) is logged and counted, and
//! the previous snapshot stays in use: a run never decides against a half-read registry.

use super::metrics::Metrics;
use super::{Clocks, Stop};
use passwatch_registry::{PassSnapshot, Registry, RegistryError, WatchlistSnapshot};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Passes and watchlist at one registry version.
#[derive(Debug)]
pub struct Snapshots {
    /// The passes.
    pub passes: PassSnapshot,
    /// The watchlist, when a camera runs faces.
    pub watchlist: Option<WatchlistSnapshot>,
}

impl Snapshots {
    /// The registry version both were read at.
    pub fn version(&self) -> u64 {
        self.passes.version
    }

    /// Reads both at one version: the passes and the watchlist are read in two transactions,
    /// so a change landing between them is caught by comparing versions, and read again.
    pub fn load(registry: &Registry, face_model: Option<&str>) -> Result<Snapshots, RegistryError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let passes = registry.snapshot()?;
            let watchlist = match face_model {
                Some(model) => Some(registry.watchlist_snapshot(model)?),
                None => None,
            };
            let same = watchlist
                .as_ref()
                .is_none_or(|w| w.version == passes.version);
            if same || attempts >= 5 {
                return Ok(Snapshots { passes, watchlist });
            }
        }
    }
}

/// The current snapshots, shared by the workers.
#[derive(Debug)]
pub struct SnapshotCell {
    current: RwLock<Arc<Snapshots>>,
}

impl SnapshotCell {
    /// A cell holding `first`.
    pub fn new(first: Snapshots) -> Self {
        SnapshotCell {
            current: RwLock::new(Arc::new(first)),
        }
    }

    /// The snapshots to decide against now (a cheap `Arc` clone; the lock is held for that
    /// clone only).
    pub fn current(&self) -> Arc<Snapshots> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in new snapshots; decisions already under way finish on the old ones.
    pub fn replace(&self, next: Snapshots) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
    }
}

/// Polls a registry database and keeps a [`SnapshotCell`] current.
pub struct RegistryWatcher {
    /// The database.
    pub path: PathBuf,
    /// The face embedder's model id, when the watchlist is needed.
    pub face_model: Option<String>,
    /// Where the snapshots go.
    pub cell: Arc<SnapshotCell>,
    /// Where versions and reloads are counted.
    pub metrics: Arc<Metrics>,
    /// How often to look. Default 1 s.
    pub every: Duration,
    /// The run's clocks.
    pub clocks: Arc<dyn Clocks>,
    /// Ends the loop.
    pub stop: Stop,
}

impl RegistryWatcher {
    /// Records a snapshot's figures in the metrics.
    pub fn publish(metrics: &Metrics, s: &Snapshots) {
        let r = &metrics.registry;
        r.version.store(s.version(), Ordering::Relaxed);
        r.passes.store(s.passes.len() as u64, Ordering::Relaxed);
        r.subjects.store(
            s.watchlist.as_ref().map_or(0, |w| w.len() as u64),
            Ordering::Relaxed,
        );
        r.loads.fetch_add(1, Ordering::Relaxed);
    }

    /// The loop; returns when the run stops.
    pub fn run(self) {
        let mut registry: Option<Registry> = None;
        let mut known = self.cell.current().version();
        while !self.clocks.sleep(self.every, &self.stop) {
            let reg = match registry.as_ref() {
                Some(r) => r,
                None => match Registry::open(&self.path) {
                    Ok(r) => registry.insert(r),
                    Err(e) => {
                        self.metrics.registry.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "cannot open the registry; keeping version {known}");
                        continue;
                    }
                },
            };
            let version = match reg.current_version() {
                Ok(v) => v,
                Err(e) => {
                    self.metrics.registry.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot read the registry version; keeping version {known}");
                    registry = None; // reopen next time
                    continue;
                }
            };
            if version == known {
                continue;
            }
            let t0 = std::time::Instant::now();
            match Snapshots::load(reg, self.face_model.as_deref()) {
                Ok(next) => {
                    known = next.version();
                    Self::publish(&self.metrics, &next);
                    tracing::info!(
                        version = known,
                        passes = next.passes.len(),
                        subjects = next.watchlist.as_ref().map_or(0, |w| w.len()),
                        load_ms = t0.elapsed().as_millis() as u64,
                        "registry changed; new decisions use this version"
                    );
                    self.cell.replace(next);
                }
                Err(e) => {
                    self.metrics.registry.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, version,
                        "cannot load the new registry version; keeping version {known}");
                }
            }
        }
    }
}
