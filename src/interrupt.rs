//! Ctrl-C (SIGINT) and SIGTERM: a flag the readers check at every buffer,
//! so a run stops within about a megabyte of work per reader, rolls back
//! the tables in flight, puts keys back, and exits 130.

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
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            REQUESTED.store(true, Ordering::SeqCst);
            eprintln!("\nferry: interrupt received, stopping: rolling back the tables in flight…");
        });
    });
}
