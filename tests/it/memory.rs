//! Peak memory stays bounded however large the values (issue 5): ferry streams
//! rows through fixed-size buffers and bounded channels, so migrating 200 rows
//! of 1 MiB blobs and 100 KB texts (220 MB) must not hold the table in memory.
//!
//! The child's memory is read from `/proc/PID/status` every 2 ms while it
//! runs. The bound is on `RssAnon`, ferry's own heap: `VmHWM` (what
//! `/usr/bin/time` calls peak RSS) also counts the pages of the SQLite file
//! that ferry reads through `mmap`, which are the kernel's page cache, shared
//! and reclaimable, and grow with the file whatever ferry buffers; it is
//! printed, not asserted.
//!
//! The bound, 128 MiB: with `-j 4 --chunk-rows 20` four readers each fill a
//! buffer that is sent once it passes 1 MiB (so about one 1.1 MB row each,
//! in an allocation of up to ~2.5 MiB), the channel holds at most
//! `queue_depth + readers` = 8 of them, the writer one more being sent, and
//! the verification decodes one row at a time: about 35 MiB of data in
//! flight, plus the runtime, SQLite's per-connection caches and allocator
//! slack. Holding even half the table would need more than 110 MB.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::pg::server;

const ROWS: i64 = 200;
const BLOB: usize = 1 << 20;
const TEXT: usize = 100_000;
const BOUND_MIB: u64 = 128;

/// A SQLite file with `ROWS` rows of a 1 MiB blob and a 100 KB text.
fn big_values_db(path: &Path) {
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE doc (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, data BLOB NOT NULL);",
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx.prepare("INSERT INTO doc VALUES (?1, ?2, ?3, ?4)").unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut blob = vec![0u8; BLOB];
        for id in 1..=ROWS {
            for b in blob.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let body: String = (0..TEXT).map(|i| (b'a' + ((i as i64 + id) % 26) as u8) as char).collect();
            st.execute(rusqlite::params![id, format!("document {id}"), body, blob]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// kB figures of `keys` in /proc/PID/status, 0 when absent.
fn status_kb(pid: u32, keys: &[&str]) -> Option<Vec<u64>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(
        keys.iter()
            .map(|k| {
                s.lines()
                    .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(':')))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect(),
    )
}

#[test]
fn peak_memory_is_bounded_with_large_values() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.db");
    big_values_db(&src);
    let db = server().fresh_db("memory_large_values");

    // The built binary, with a clean environment as in util::cmd, run here
    // so that its pid can be watched.
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(["migrate", src.to_str().unwrap(), &db.url, "-j", "4", "--chunk-rows", "20"])
        .env("FERRY_STATE_DIR", dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if (text.starts_with("FERRY_") && text != "FERRY_STATE_DIR") || text.starts_with("PG") || text == "DATABASE_URL" {
            command.env_remove(&name);
        }
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let read = |mut p: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = p.read_to_string(&mut s);
            s
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let (mut anon_peak, mut hwm) = (0u64, 0u64);
    let status = loop {
        if let Some(v) = status_kb(pid, &["RssAnon", "VmHWM"]) {
            anon_peak = anon_peak.max(v[0]);
            hwm = hwm.max(v[1]);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("ferry migrate did not finish in 120 s");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let seconds = started.elapsed().as_secs_f64();
    let report = format!(
        "ferry migrate of {ROWS} rows × ({BLOB} B blob + {TEXT} B text): {seconds:.1} s, peak anonymous RSS {} MiB, \
         VmHWM (file-backed mmap pages included) {} MiB\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}",
        anon_peak / 1024,
        hwm / 1024
    );
    eprintln!("{report}");
    assert_eq!(status.code(), Some(0), "{report}");
    assert!(anon_peak > 0, "no memory sample was read from /proc/{pid}/status\n{report}");
    assert!(
        anon_peak < BOUND_MIB * 1024,
        "peak anonymous RSS {} MiB is over {BOUND_MIB} MiB: something holds whole values or tables\n{report}",
        anon_peak / 1024
    );

    // The data is there (ferry's exit 0 already means counts and hashes match).
    let rows = db.query_strings(
        "SELECT count(*), sum(octet_length(data)), sum(length(body)), min(octet_length(data)) FROM doc",
    );
    assert_eq!(
        rows,
        vec![vec![
            Some(ROWS.to_string()),
            Some((ROWS as usize * BLOB).to_string()),
            Some((ROWS as usize * TEXT).to_string()),
            Some(BLOB.to_string()),
        ]]
    );
    let body = db.query_strings("SELECT substr(body, 1, 5), title FROM doc WHERE id = 7");
    assert_eq!(body, vec![vec![Some("hijkl".into()), Some("document 7".into())]]);
}
