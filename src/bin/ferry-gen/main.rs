//! `ferry-gen`: writes a FlashCase SQLite database of any size, for the
//! benchmarks (`scripts/bench.sh`, `benches/`). A separate binary so that the
//! `ferry` users install carries none of it.
//!
//! ```text
//! cargo run --release --bin ferry-gen -- --scale 1 --out /tmp/fc1.db    # ≈ 1.6 M rows, 400 MB
//! cargo run --release --bin ferry-gen -- --scale 0.01 --out /tmp/fc.db  # a quick one
//! ```
//!
//! `ferry-gen --read FILE` instead reads every column of every row of every
//! table once (one thread, borrowed values, nothing converted): the floor of
//! the SQLite side that `scripts/bench.sh` compares `ferry verify` with.
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
    #[arg(long, required_unless_present = "read")]
    out: Option<PathBuf>,
    /// Instead of writing, read every value of every table of this database
    /// once and print the rows and seconds.
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    read: Option<PathBuf>,
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

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(args: &Args) -> Result<()> {
    if let Some(path) = &args.read {
        return read_all(path);
    }
    let out = args.out.as_ref().expect("clap requires --out without --read");
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        return Err(format!("--scale must be a positive number, not {}", args.scale).into());
    }
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = out.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("removing {}: {e}", PathBuf::from(p).display()).into());
            }
            _ => {}
        }
    }
    let t0 = Instant::now();
    let mut conn = rusqlite::Connection::open(out)?;
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
    let bytes = std::fs::metadata(out)?.len();
    let c = w.counts;
    eprintln!(
        "ferry-gen: wrote {} (scale {}, seed {}): user {}, deck {}, card {}, deckmetadata {}, studylog {}, userdeck {}: {} rows, {:.1} MB in {:.1} s",
        out.display(),
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

/// Every value of every table, read once with `get_ref`, on one thread.
fn read_all(path: &std::path::Path) -> Result<()> {
    let t0 = Instant::now();
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    for t in &tables {
        let mut st = conn.prepare(&format!("SELECT * FROM \"{}\"", t.replace('"', "\"\"")))?;
        let n = st.column_count();
        let mut rs = st.query([])?;
        while let Some(r) = rs.next()? {
            for i in 0..n {
                bytes += match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b.len() as u64,
                    rusqlite::types::ValueRef::Null => 0,
                    _ => 8,
                };
            }
            rows += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{rows} rows, {bytes} bytes of values, {secs:.3} s");
    eprintln!("ferry-gen: read {} tables of {}: {rows} rows, {:.1} MB of values in {secs:.2} s", tables.len(), path.display(), bytes as f64 / 1e6);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::flashcase::{format_datetime, Form};

    /// 2023-01-01 00:00:00.
    const START_2023: i64 = 1_672_531_200_000_000;

    #[test]
    fn datetimes_in_every_form() {
        let mut s = String::new();
        // 1999-12-31 23:59:59.999999
        let t = 946_684_799_999_999;
        format_datetime(t, Form::Sqlalchemy, &mut s);
        assert_eq!(s, "1999-12-31 23:59:59.999999");
        format_datetime(t, Form::NoFraction, &mut s);
        assert_eq!(s, "1999-12-31 23:59:59");
        format_datetime(START_2023, Form::Sqlalchemy, &mut s);
        assert_eq!(s, "2023-01-01 00:00:00.000000");
        let forms: Vec<String> = (0..6)
            .map(|k| {
                format_datetime(START_2023 + 123_456, Form::Iso(k), &mut s);
                s.clone()
            })
            .collect();
        assert_eq!(
            forms,
            [
                "2023-01-01T00:00:00",
                "2023-01-01T00:00:00.123456",
                "2023-01-01T00:00:00Z",
                "2023-01-01T00:00:00.123456Z",
                "2023-01-01T02:00:00+02:00",
                "2023-01-01T02:00:00.123456+02:00",
            ]
        );
        // Leap day.
        format_datetime(1_709_251_199_999_999, Form::Sqlalchemy, &mut s);
        assert_eq!(s, "2024-02-29 23:59:59.999999");
    }
}
