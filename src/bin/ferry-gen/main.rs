//! `ferry-gen`: writes a FlashCase SQLite database of any size, for the
//! benchmarks (`scripts/bench.sh`, `benches/`). A separate binary so that the
//! `ferry` users install carries none of it.
//!
//! ```text
//! cargo run --release --bin ferry-gen -- --scale 1 --out /tmp/fc1.db    # ≈ 1.6 M rows, 400 MB
//! cargo run --release --bin ferry-gen -- --scale 0.01 --out /tmp/fc.db  # a quick one
//! ```
//!
//! Deterministic: the same `--scale` and `--seed` give the same content.
//! One transaction, prepared statements, `journal_mode=OFF` and
//! `synchronous=OFF`: the file is scratch, written as fast as SQLite allows.

mod flashcase;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

/// Write the FlashCase app's SQLite database (SQLModel's schema, SQLAlchemy's
/// value formats) at any scale, deterministically.
#[derive(Parser)]
#[command(name = "ferry-gen")]
struct Args {
    /// Size: 1 is 10k users, 5k decks, 500k cards, 1M study-log rows, 100k
    /// user-decks (≈ 1.6 M rows, 400 MB); fractions (0.01) for quick runs.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// The database file to write; an existing file is replaced.
    #[arg(long)]
    out: PathBuf,
    /// PRNG seed: the same seed and scale give the same content.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run `PRAGMA foreign_key_check` and `integrity_check` afterwards.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-gen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        return Err(format!("--scale must be a positive number, not {}", args.scale).into());
    }
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = args.out.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("removing {}: {e}", PathBuf::from(p).display()).into());
            }
            _ => {}
        }
    }
    let t0 = Instant::now();
    let mut conn = rusqlite::Connection::open(&args.out)?;
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -131072;")?;
    let w = flashcase::generate(&mut conn, args.scale, args.seed)?;
    if args.check {
        let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if fk != 0 || ok != "ok" {
            return Err(format!("check failed: {fk} foreign-key problems, integrity_check: {ok}").into());
        }
    }
    drop(conn);
    let bytes = std::fs::metadata(&args.out)?.len();
    let c = w.counts;
    eprintln!(
        "ferry-gen: wrote {} (scale {}, seed {}): user {}, deck {}, card {}, deckmetadata {}, studylog {}, userdeck {}: {} rows, {:.1} MB in {:.1} s",
        args.out.display(),
        args.scale,
        args.seed,
        c.users,
        c.decks,
        c.cards,
        c.decks,
        c.studylog,
        c.userdeck,
        w.rows,
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
