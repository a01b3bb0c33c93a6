//! Micro-benchmarks of the row loop: read → convert → encode → hash, in rows
//! (or values) per second on one core, through ferry's library API.
//!
//! ```text
//! cargo bench --bench rows                  # everything (about 2 minutes)
//! cargo bench --bench rows -- studylog      # only the study-log table shape
//! FERRY_BENCH_SCALE=0.2 cargo bench --bench rows
//! ```
//!
//! Times are the CPU time of the benchmarking thread (from
//! `/proc/thread-self/schedstat`, in nanoseconds), so "per core" means what
//! it says even on a machine busy with other work; `FERRY_BENCH_CLOCK=wall`
//! measures wall time instead. In `read_chunk` the thread that drains the
//! channel (the writer's part) is not counted.
//!
//! The source is a FlashCase database written by the `ferry-gen` generator
//! (the same code, `#[path]`-included) at `FERRY_BENCH_SCALE` (default 0.1:
//! 100k study-log rows, 50k cards), planned with the built-in mapping exactly
//! as `ferry migrate` plans it (`commands::prepare`).
//!
//! Groups, so that the cost of each stage can be read off by difference:
//!
//! * `studylog/*`, `card/*`: `sqlite_read` (step + `get_ref` of every
//!   column, nothing else), `read_convert`, `read_convert_encode`, and
//!   `read_chunk`, ferry's own reader (`pipeline::reader::read_chunk`): read,
//!   convert, encode, hash and hand 1 MiB buffers to a channel, as in a load.
//!   The issue's target: `studylog/read_chunk` ≥ 2 M rows/s per core.
//! * `studylog_memory/*`: the same rows already in memory, so SQLite is out
//!   of the picture: `convert_encode`, `convert_encode_hash`, `row_hash`
//!   (the row hashes and table sum alone, as `hash::digest` does it:
//!   canonical bytes into a `DigestBuilder`, sixteen rows per SIMD call),
//!   and `row_hash_blake3_per_row` (the same bytes, hence the same sum, with
//!   one `blake3::hash` call per row: what the lanes gain).
//! * `value/*`: one column type at a time (bigint, double, text of 200
//!   characters, timestamp text, boolean), `convert_encode` and
//!   `convert_encode_hash`, in values per second.

#[path = "../src/bin/ferry-gen/flashcase.rs"]
#[allow(dead_code)]
mod flashcase;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::BytesMut;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Throughput};
use rusqlite::types::{Value as SqlValue, ValueRef};

use ferry::cli::MappingOpts;
use ferry::mapping::convert::{Converter, Scratch, Value};
use ferry::mapping::file::Layers;
use ferry::mapping::types::PgType;
use ferry::pipeline::reader;
use ferry::sqlite::pool::Chunk;
use ferry::pipeline::rejects::BadValues;
use ferry::plan::TablePlan;
use ferry::postgres::encode;
use ferry::hash::digest::{write_value, DigestBuilder, TableDigest};

const BUFFER_BYTES: usize = 1 << 20;

type Criterion = criterion::Criterion<Clock>;

/// This thread's CPU time (or wall time with `FERRY_BENCH_CLOCK=wall`), in ns.
struct Clock {
    cpu: bool,
    epoch: std::time::Instant,
}

impl Clock {
    fn new() -> Clock {
        let wall = std::env::var("FERRY_BENCH_CLOCK").is_ok_and(|v| v == "wall");
        let cpu = !wall && thread_cpu_ns().is_some();
        if !wall && !cpu {
            eprintln!("rows: /proc/thread-self/schedstat unreadable; measuring wall time");
        }
        Clock { cpu, epoch: std::time::Instant::now() }
    }
    fn now(&self) -> u64 {
        match self.cpu {
            true => thread_cpu_ns().expect("schedstat was readable"),
            false => self.epoch.elapsed().as_nanos() as u64,
        }
    }
}

/// The first field of schedstat: time spent on a CPU, in nanoseconds.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

static WALL: WallTime = WallTime;

impl Measurement for Clock {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        self.now()
    }
    fn end(&self, start: u64) -> u64 {
        self.now().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn config() -> Criterion {
    criterion::Criterion::default().with_measurement(Clock::new())
}

struct Source {
    _dir: tempfile::TempDir,
    path: PathBuf,
    plan: ferry::plan::Plan,
}

fn source() -> Source {
    let scale: f64 = std::env::var("FERRY_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(0.1);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flashcase.db");
    let mut conn = rusqlite::Connection::open(&path).expect("create the source");
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;").expect("pragmas");
    flashcase::generate(&mut conn, scale, 42).expect("generate");
    drop(conn);
    let layers = Layers::load(&[]).expect("built-in mapping");
    let opts = MappingOpts { mapping: Vec::new(), tables: Vec::new(), exclude: Vec::new() };
    let (_, plan) = ferry::commands::prepare(&path, &layers, &opts, "public").expect("plan");
    Source { _dir: dir, path, plan }
}

fn table<'p>(s: &'p Source, name: &str) -> &'p TablePlan {
    s.plan.tables.iter().find(|t| t.source.name == name).expect("table in plan")
}

fn select(tp: &TablePlan) -> String {
    let cols: Vec<String> = tp.map.columns.iter().map(|c| format!("\"{}\"", c.source)).collect();
    format!("SELECT {} FROM \"{}\"", cols.join(", "), tp.source.name)
}

/// One pass over the table: read every value, and do `per_value` with it.
fn scan(conn: &rusqlite::Connection, tp: &TablePlan, mut per_row: impl FnMut(&rusqlite::Row<'_>)) -> u64 {
    let mut stmt = conn.prepare_cached(&select(tp)).expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut n = 0;
    while let Some(row) = rows.next().expect("step") {
        per_row(row);
        n += 1;
    }
    n
}

fn table_group(c: &mut Criterion, s: &Source, name: &str) {
    let tp = table(s, name);
    let conn = ferry::sqlite::open::open_read_only(&s.path).expect("open");
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(tp.row_count));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let ncols = tp.map.columns.len();

    g.bench_function("sqlite_read", |b| {
        b.iter(|| {
            scan(&conn, tp, |row| {
                for i in 0..ncols {
                    black_box(row.get_ref(i).expect("value"));
                }
            })
        })
    });

    g.bench_function("read_convert", |b| {
        let mut scratch = Scratch::default();
        b.iter(|| {
            scan(&conn, tp, |row| {
                for (i, cm) in tp.map.columns.iter().enumerate() {
                    let v = row.get_ref(i).expect("value");
                    black_box(cm.converter.convert(v, &mut scratch).expect("converts"));
                }
            })
        })
    });

    g.bench_function("read_convert_encode", |b| {
        let mut scratch = Scratch::default();
        let mut buf = BytesMut::with_capacity(BUFFER_BYTES * 2);
        b.iter(|| {
            scan(&conn, tp, |row| {
                encode::begin_row(&mut buf, ncols as i16);
                for (i, cm) in tp.map.columns.iter().enumerate() {
                    let v = row.get_ref(i).expect("value");
                    let value = cm.converter.convert(v, &mut scratch).expect("converts");
                    encode::write_value(&mut buf, &cm.pg_type, &value);
                }
                if buf.len() >= BUFFER_BYTES {
                    buf.clear();
                }
            })
        })
    });

    // ferry's reader as the pipeline runs it: one whole-table chunk, buffers
    // handed to a channel that a second thread drains (the writer's part).
    g.bench_function("read_chunk", |b| {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let drain = std::thread::spawn(move || rx.into_iter().for_each(drop));
        let cancel = AtomicBool::new(false);
        let chunk = Chunk { range: None };
        let bad_values = BadValues::default();
        b.iter(|| {
            let d = reader::read_chunk(&s.path, tp, &chunk, Some(BUFFER_BYTES), &tx, &cancel, &bad_values, None)
                .expect("read_chunk");
            assert_eq!(d.rows, tp.row_count);
            d
        });
        drop(tx);
        drain.join().expect("drain thread");
    });
    g.finish();
}

fn studylog(c: &mut Criterion) {
    let s = source();
    table_group(c, &s, "studylog");
    table_group(c, &s, "card");
    memory_group(c, &s);
}

/// The study-log rows held in memory (owned SQLite values), so the stages
/// after the read are measured without SQLite.
fn memory_group(c: &mut Criterion, s: &Source) {
    let tp = table(s, "studylog");
    let conn = ferry::sqlite::open::open_read_only(&s.path).expect("open");
    let mut rows: Vec<Vec<SqlValue>> = Vec::new();
    let ncols = tp.map.columns.len();
    scan(&conn, tp, |row| rows.push((0..ncols).map(|i| owned(row.get_ref(i).expect("value"))).collect()));
    let mut g = c.benchmark_group("studylog_memory");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    g.bench_function("convert_encode", |b| {
        let mut scratch = Scratch::default();
        let mut buf = BytesMut::with_capacity(BUFFER_BYTES * 2);
        b.iter(|| {
            for row in &rows {
                encode::begin_row(&mut buf, ncols as i16);
                for (v, cm) in row.iter().zip(&tp.map.columns) {
                    let value = cm.converter.convert(ValueRef::from(v), &mut scratch).expect("converts");
                    encode::write_value(&mut buf, &cm.pg_type, &value);
                }
                if buf.len() >= BUFFER_BYTES {
                    buf.clear();
                }
            }
        })
    });

    g.bench_function("convert_encode_hash", |b| {
        let mut scratch = Scratch::default();
        let mut hash_scratch = Vec::new();
        let mut buf = BytesMut::with_capacity(BUFFER_BYTES * 2);
        b.iter(|| {
            let mut digest = DigestBuilder::default();
            for row in &rows {
                encode::begin_row(&mut buf, ncols as i16);
                for (v, cm) in row.iter().zip(&tp.map.columns) {
                    let value = cm.converter.convert(ValueRef::from(v), &mut scratch).expect("converts");
                    encode::write_value(&mut buf, &cm.pg_type, &value);
                    write_value(digest.row(), &cm.pg_type, &value, &mut hash_scratch);
                }
                digest.end_row();
                if buf.len() >= BUFFER_BYTES {
                    buf.clear();
                }
            }
            digest.finish()
        })
    });

    // The hash alone, on values converted once beforehand.
    let mut scratch = Scratch::default();
    let converted: Vec<Vec<Value<'static>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&tp.map.columns)
                .map(|(v, cm)| match cm.converter.convert(ValueRef::from(v), &mut scratch).expect("converts") {
                    // Only studylog's types: none borrows the scratch.
                    Value::Int(i) => Value::Int(i),
                    Value::Float(f) => Value::Float(f),
                    Value::Timestamp(t) => Value::Timestamp(t),
                    other => panic!("unexpected {other:?} in studylog"),
                })
                .collect()
        })
        .collect();
    // As `hash::digest` does it: canonical bytes into the builder, rows
    // hashed sixteen at a time in SIMD lanes (`hash::lanes`).
    g.bench_function("row_hash", |b| {
        let mut hash_scratch = Vec::new();
        b.iter(|| {
            let mut digest = DigestBuilder::default();
            for row in &converted {
                for (value, cm) in row.iter().zip(&tp.map.columns) {
                    write_value(digest.row(), &cm.pg_type, value, &mut hash_scratch);
                }
                digest.end_row();
            }
            digest.finish()
        })
    });
    // The same bytes, one `blake3::hash` call per row (before the lanes):
    // the same table hash, checked before timing.
    let per_row = |buf: &mut Vec<u8>, hash_scratch: &mut Vec<u8>| {
        let mut digest = TableDigest::default();
        for row in &converted {
            buf.clear();
            for (value, cm) in row.iter().zip(&tp.map.columns) {
                write_value(buf, &cm.pg_type, value, hash_scratch);
            }
            digest.add_row(&blake3::hash(buf));
        }
        digest
    };
    {
        let mut lanes = DigestBuilder::default();
        let mut hash_scratch = Vec::new();
        for row in &converted {
            for (value, cm) in row.iter().zip(&tp.map.columns) {
                write_value(lanes.row(), &cm.pg_type, value, &mut hash_scratch);
            }
            lanes.end_row();
        }
        assert_eq!(lanes.finish(), per_row(&mut Vec::new(), &mut hash_scratch), "the per-row table hash differs");
    }
    g.bench_function("row_hash_blake3_per_row", |b| {
        let (mut buf, mut hash_scratch) = (Vec::with_capacity(256), Vec::new());
        b.iter(|| per_row(&mut buf, &mut hash_scratch))
    });
    g.finish();
}

fn owned(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8(t.to_vec()).expect("UTF-8")),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// 10,000 values of each type, as SQLAlchemy stores them.
fn per_type(c: &mut Criterion) {
    let mut rng = flashcase::Rng::new(7);
    let n = 10_000;
    let texts = flashcase::TextSource::new(&mut rng);
    let mut ts = String::new();
    let ints: Vec<SqlValue> = (0..n).map(|_| SqlValue::Integer(rng.below(1 << 40) as i64)).collect();
    let reals: Vec<SqlValue> = (0..n).map(|_| SqlValue::Real(rng.range(130, 300) as f64 / 100.0)).collect();
    let strings: Vec<SqlValue> = (0..n).map(|_| SqlValue::Text(texts.text(&mut rng, 200, 200).to_string())).collect();
    let stamps: Vec<SqlValue> = (0..n)
        .map(|_| {
            let micros = 1_672_531_200_000_000 + rng.below(365 * 86_400_000_000) as i64;
            flashcase::format_datetime(micros, flashcase::Form::Sqlalchemy, &mut ts);
            SqlValue::Text(ts.clone())
        })
        .collect();
    let bools: Vec<SqlValue> = (0..n).map(|_| SqlValue::Integer(rng.below(2) as i64)).collect();
    let cases: [(&str, PgType, &Vec<SqlValue>); 5] = [
        ("bigint", PgType::BigInt, &ints),
        ("double", PgType::Double, &reals),
        ("text200", PgType::Text, &strings),
        ("timestamp_text", PgType::Timestamp, &stamps),
        ("boolean", PgType::Boolean, &bools),
    ];

    let mut g = c.benchmark_group("value");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for (name, pg, values) in &cases {
        let converter = Converter::for_type(pg);
        g.bench_with_input(BenchmarkId::new("convert_encode", name), values, |b, values| {
            let mut scratch = Scratch::default();
            let mut buf = BytesMut::with_capacity(BUFFER_BYTES * 2);
            b.iter(|| {
                buf.clear();
                for v in values.iter() {
                    let value = converter.convert(ValueRef::from(v), &mut scratch).expect("converts");
                    encode::write_value(&mut buf, pg, &value);
                }
                buf.len()
            })
        });
        // Hashed as one column of an eight-column row: a hasher per 8 values.
        g.bench_with_input(BenchmarkId::new("convert_encode_hash", name), values, |b, values| {
            let mut scratch = Scratch::default();
            let mut hash_scratch = Vec::new();
            let mut buf = BytesMut::with_capacity(BUFFER_BYTES * 2);
            b.iter(|| {
                buf.clear();
                let mut digest = DigestBuilder::default();
                for row in values.chunks(8) {
                    for v in row {
                        let value = converter.convert(ValueRef::from(v), &mut scratch).expect("converts");
                        encode::write_value(&mut buf, pg, &value);
                        write_value(digest.row(), pg, &value, &mut hash_scratch);
                    }
                    digest.end_row();
                }
                digest.finish()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = studylog, per_type
}
criterion_main!(benches);
