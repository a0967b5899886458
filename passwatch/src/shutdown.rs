//! Stopping a run: signals, and a bound on how long the stop may take.
//!
//! The first SIGINT or SIGTERM sets the run's [`Stop`]: camera threads tear their pipelines
//! down and announce the end of their sessions, the workers finish the frames already taken,
//! close every open track (deciding it, writing its event), and `events.jsonl` is synced; the
//! process then exits 0. A second signal exits at once ([`EXIT_SECOND_SIGNAL`]): nothing decided
//! is lost by it, since every event is synced as it is written, only the open tracks are not
//! decided. If the orderly stop takes longer than its bound (`--shutdown-timeout`), the process
//! exits with [`EXIT_SHUTDOWN_TIMEOUT`] and says so.

use passwatch_pipeline::live::Stop;
use std::time::Duration;

/// Exit status after a second signal.
pub const EXIT_SECOND_SIGNAL: i32 = 130;
/// Exit status when the orderly stop overran its bound.
pub const EXIT_SHUTDOWN_TIMEOUT: i32 = 124;

/// Waits for SIGINT/SIGTERM on the control runtime: the first sets `stop`, the second exits
/// the process at once.
pub async fn watch_signals(stop: Stop) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot listen for signals; stop the run with SIGKILL");
            return;
        }
    };
    let first = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::warn!(
        signal = first,
        "stopping: finishing the frames in flight, closing open tracks, syncing events \
         (a second signal exits at once)"
    );
    stop.trigger();
    let second = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::error!(
        signal = second,
        "second signal: exiting now; open tracks are not decided"
    );
    std::process::exit(EXIT_SECOND_SIGNAL);
}

/// Once `stop` is set, gives the orderly stop `bound` to set `done`; after that, exits the
/// process with [`EXIT_SHUTDOWN_TIMEOUT`]. Runs on its own thread.
pub fn enforce_bound(stop: Stop, done: Stop, bound: Duration) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shutdown-bound".into())
        .spawn(move || {
            stop.wait();
            if !done.wait_timeout(bound) {
                tracing::error!(
                    bound_s = bound.as_secs_f64(),
                    "the stop took longer than its bound; exiting without closing the remaining tracks"
                );
                std::process::exit(EXIT_SHUTDOWN_TIMEOUT);
            }
        })
        .map(|_| ())
}
