//! Ctrl-C (SIGINT) and SIGTERM: a flag the readers check at every buffer,
//! so a run stops within about a megabyte of work per reader, rolls back
//! the tables in flight, puts keys back, and exits 130. SQLite statements
//! stop through a progress handler (`sqlite::snapshot`); the phases that
//! wait on the server (keys, verification) race it with [`interruptible`].
//! A second signal exits at once: transactions in flight never commit, and
//! keys set aside are in their journal for the next run.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Has the user asked ferry to stop?
#[inline]
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Listen for SIGINT and SIGTERM on a small thread of its own.
pub fn install() {
    let _ = std::thread::Builder::new().name("ferry-signals".into()).spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
                else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                REQUESTED.store(true, Ordering::SeqCst);
                eprintln!("\nferry: interrupt received, stopping: rolling back the tables in flight… (again to exit at once)");
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                eprintln!(
                    "ferry: second interrupt: exiting now. Tables not committed roll back on the server; keys set aside are restored by the next run or `ferry restore-keys`"
                );
                std::process::exit(crate::error::EXIT_INTERRUPTED.into());
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
                REQUESTED.store(true, Ordering::SeqCst);
                eprintln!("\nferry: interrupt received, stopping: rolling back the tables in flight…");
            }
        });
    });
}

/// The error of a phase stopped by an interrupt.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Err(Interrupted) once an interrupt was requested: checked between phases.
pub fn check() -> Result<(), Interrupted> {
    if requested() { Err(Interrupted) } else { Ok(()) }
}

/// Resolves once an interrupt is requested.
pub async fn signalled() {
    while !requested() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Run `work` unless an interrupt comes first; then `work` is dropped (its
/// sessions close with it when the runtime ends, and the server rolls back
/// what they had not committed).
pub async fn interruptible<T, E: Into<anyhow::Error>>(work: impl std::future::Future<Output = Result<T, E>>) -> anyhow::Result<T> {
    tokio::select! {
        r = work => r.map_err(Into::into),
        _ = signalled() => Err(Interrupted.into()),
    }
}
