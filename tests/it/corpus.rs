//! The shared corpus through mapping files (issue 3, done-when).
//!
//! * Named files migrate with a given mapping, and with the mapping that
//!   `ferry inspect --suggest-mapping` writes, and every value is checked
//!   against an expectation computed here from the SQLite value by simple,
//!   independent means (SQLite's own functions, plain Rust arithmetic on
//!   the stored number, PostgreSQL's `extract(epoch …)`).
//! * Every SQLite file of `MANIFEST.tsv` goes through `--suggest-mapping`
//!   and `migrate --mapping <suggested>`: each must either load with equal
//!   counts (exit 0) or stop before loading (exit 2) naming the columns and
//!   rows that cannot convert. The outcome per file is printed as a table
//!   (README.md, "Corpus results").
//!
//! Corpus files are always copied first (`corpus_copy`): some are in WAL
//! mode, and SQLite writes beside a file it opens.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::util::cmd::{assert_code, ferry, Output};
use crate::util::pg::{server, TestDb};
use crate::util::sqlite::corpus_copy;

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// `SELECT rowid-or-key, value` rows from SQLite, as (key text, value).
fn sqlite_rows(path: &Path, sql: &str) -> Vec<(String, rusqlite::types::Value)> {
    let c = sqlite(path);
    let mut s = c.prepare(sql).unwrap();
    s.query_map([], |r| Ok((r.get::<_, rusqlite::types::Value>(0)?, r.get::<_, rusqlite::types::Value>(1)?)))
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (key_text(&k), v)
        })
        .collect()
}

fn key_text(v: &rusqlite::types::Value) -> String {
    match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Text(t) => t.clone(),
        other => format!("{other:?}"),
    }
}

fn pg_map(db: &TestDb, sql: &str) -> std::collections::HashMap<String, Option<String>> {
    db.query_strings(sql).into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone())).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn migrate(src: &Path, db: &TestDb, mappings: &[&Path], extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["migrate".into(), src.display().to_string(), db.url.clone(), "-j".into(), "1".into(), "--writers".into(), "2".into()];
    for m in mappings {
        args.push("--mapping".into());
        args.push(m.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ferry(&a)
}

fn suggest(src: &Path, out: &Path) -> Output {
    ferry(&["inspect", src.to_str().unwrap(), &format!("--suggest-mapping={}", out.display())])
}

/// Microseconds since 1970 of every row of a timestamptz column, from
/// PostgreSQL's own `extract(epoch …)` (exact numeric), keyed by `key`.
fn pg_micros(db: &TestDb, table: &str, key: &str, col: &str) -> std::collections::HashMap<String, Option<i128>> {
    db.query_strings(&format!(
        "SELECT {key}::text, (extract(epoch FROM \"{col}\") * 1000000)::numeric(40,0)::text FROM \"{table}\""
    ))
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].as_ref().map(|s| s.parse::<i128>().unwrap())))
    .collect()
}

/// `expected(sqlite value) → µs since 1970` for integer epochs.
fn check_epoch_column(db: &TestDb, src: &Path, table: &str, key: &str, col: &str, to_micros: impl Fn(i64) -> i128) {
    let pg = pg_micros(db, table, key, col);
    let rows = sqlite_rows(src, &format!("SELECT {key}, \"{col}\" FROM \"{table}\""));
    assert!(!rows.is_empty());
    for (k, v) in rows {
        let want = match v {
            rusqlite::types::Value::Null => None,
            rusqlite::types::Value::Integer(i) => Some(to_micros(i)),
            other => panic!("{table}.{col} {k}: unexpected {other:?}"),
        };
        assert_eq!(pg.get(&k), Some(&want), "{table}.{col} key {k}");
    }
}

/// The done-when list with hand-written mapping files.
#[test]
fn named_files_with_given_mappings() {
    let dir = tempfile::tempdir().unwrap();

    // duckdb unix_timestamp.db: epoch seconds, integer and real; 1e100 is no time.
    let src = corpus_copy("duckdb-sqlite/unix_timestamp.db", dir.path());
    let m = write(
        dir.path(),
        "unix.toml",
        "[types]\nDATETIME = { type = \"timestamptz\", input = \"epoch-seconds\" }\n\
         [tables.timestamp_out_of_range.columns]\nts = { type = \"double precision\" }\n",
    );
    let db = server().fresh_db("corpus_unix_timestamp");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 0);
    // Expectation from SQLite itself: datetime(x, 'unixepoch', 'subsec').
    for (table, col) in [("timestamp", "ts"), ("timestamp_fractional", "val")] {
        let want: Vec<String> = sqlite_rows(&src, &format!("SELECT rowid, strftime('%Y-%m-%d %H:%M:%f', {col}, 'unixepoch') FROM \"{table}\" ORDER BY rowid"))
            .into_iter()
            .map(|(_, v)| match v {
                rusqlite::types::Value::Text(t) => t,
                o => panic!("{o:?}"),
            })
            .collect();
        let got: Vec<String> = db
            .query_strings(&format!("SELECT to_char(\"{col}\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM \"{table}\" ORDER BY \"{col}\""))
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect();
        assert_eq!(got, want, "{table}");
    }
    // Microsecond exactness of the fractional seconds, against the REAL.
    let pg = pg_micros(&db, "timestamp_fractional", "val", "val");
    assert_eq!(pg.len(), 2);
    for v in [1727078780.5f64, 1727078782.123456] {
        let us = pg.values().flatten().copied().find(|us| (*us as f64 / 1e6 - v).abs() < 1e-3).expect("value present");
        assert!((us as f64 - v * 1e6).abs() <= 0.75, "{v} → {us}");
    }
    assert_eq!(db.query_strings("SELECT ts::text FROM timestamp_out_of_range")[0][0].as_deref(), Some("1e+100"));

    // duckdb boolean.db: 0/1 with the built-in mapping.
    let src = corpus_copy("duckdb-sqlite/boolean.db", dir.path());
    let db = server().fresh_db("corpus_boolean");
    assert_code(&migrate(&src, &db, &[], &[]), 0);
    let pg = pg_map(&db, "SELECT id::text, is_active::text FROM entry");
    for (k, v) in sqlite_rows(&src, "SELECT id, is_active FROM entry") {
        let want = match v {
            rusqlite::types::Value::Integer(0) => "false",
            rusqlite::types::Value::Integer(1) => "true",
            o => panic!("{o:?}"),
        };
        assert_eq!(pg[&k].as_deref(), Some(want));
    }

    // duckdb decimal.db: decimal(p,s) whose REALs exceed the declared
    // precision (12345678.9 in decimal(10,5)): exact, without the typmod.
    let src = corpus_copy("duckdb-sqlite/decimal.db", dir.path());
    let m = write(dir.path(), "decimal.toml", "[types]\nDECIMAL = { type = \"numeric\" }\n");
    let db = server().fresh_db("corpus_decimal");
    assert_code(&migrate(&src, &db, &[&m], &[]), 0);
    check_decimal(&src, &db);

    // duckdb mixed_data_numeric.db: 42, 'hello', NULL in a numeric column.
    let src = corpus_copy("duckdb-sqlite/mixed_data_numeric.db", dir.path());
    let m = write(dir.path(), "mixed.toml", "[tables.tbl.columns]\na = { type = \"text\" }\n");
    let db = server().fresh_db("corpus_mixed_numeric");
    assert_code(&migrate(&src, &db, &[&m], &[]), 0);
    check_text_of_sqlite(&src, &db, "tbl", "a");

    // duckdb float.db: REAL bit for bit.
    let src = corpus_copy("duckdb-sqlite/float.db", dir.path());
    let db = server().fresh_db("corpus_float");
    assert_code(&migrate(&src, &db, &[], &[]), 0);
    check_float_bits(&src, &db, "my", "a");

    // pgloader type-mismatch.db: reject the row (exit 1, reject file), …
    let src = corpus_copy("pgloader/type-mismatch.db", dir.path());
    let m = write(dir.path(), "reject.toml", "[tables.products.columns]\nqty = { type = \"bigint\", on_bad_value = \"reject\" }\n");
    let rejects = dir.path().join("rejects.jsonl");
    let db = server().fresh_db("corpus_type_mismatch_reject");
    let out = migrate(&src, &db, &[&m], &["--reject-file", rejects.to_str().unwrap()]);
    assert_code(&out, 1);
    assert_eq!(db.query_strings("SELECT id::text, qty::text FROM products ORDER BY id"), vec![
        vec![Some("1".into()), Some("10".into())],
        vec![Some("3".into()), Some("5".into())],
    ]);
    let rec: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!((rec["table"].as_str(), rec["column"].as_str(), rec["key"]["rowid"].as_i64()), (Some("products"), Some("qty"), Some(2)));
    assert_eq!(rec["value"], "lots-of-it");
    assert_eq!(rec["row"]["name"], "banana");
    // … or keep every row as text.
    let m = write(dir.path(), "text.toml", "[tables.products.columns]\nqty = { type = \"text\" }\n");
    let db = server().fresh_db("corpus_type_mismatch_text");
    assert_code(&migrate(&src, &db, &[&m], &[]), 0);
    check_text_of_sqlite(&src, &db, "products", "qty");

    // pgloader bad-utf8.db: replace-invalid (lossy, counted), …
    let src = corpus_copy("pgloader/bad-utf8.db", dir.path());
    let m = write(dir.path(), "utf8.toml", "[tables.files.columns]\nfilename = { invalid_utf8 = \"replace-invalid\" }\n");
    let db = server().fresh_db("corpus_bad_utf8_replace");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("1 altered"), "{out}");
    check_lossy_text(&src, &db, "files", "filename");
    // … or NULL with the row kept (what pgloader's own test expects).
    let m = write(dir.path(), "null.toml", "[tables.files.columns]\nfilename = { type = \"text\", on_bad_value = \"null\" }\n");
    let db = server().fresh_db("corpus_bad_utf8_null");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("1 NULLed"), "{out}");
    assert_eq!(db.query_strings("SELECT id::text, filename FROM files ORDER BY id"), vec![
        vec![Some("1".into()), Some("valid-file.txt".into())],
        vec![Some("2".into()), None],
        vec![Some("3".into()), Some("another-valid.txt".into())],
    ]);

    // plaso browsers with the bundled browser-history mapping.
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/examples/browser-history.toml");
    let src = corpus_copy("plaso/firefox_places.sqlite", dir.path());
    let db = server().fresh_db("corpus_firefox");
    assert_code(&migrate(&src, &db, &[&browser], &[]), 0);
    check_firefox(&src, &db);
    let src = corpus_copy("plaso/chrome_History-59.0.3071.86.sqlite", dir.path());
    let db = server().fresh_db("corpus_chrome");
    // By its bundled name this time.
    assert_code(&migrate(&src, &db, &[Path::new("browser-history")], &[]), 0);
    check_chrome(&src, &db);
}

fn check_decimal(src: &Path, db: &TestDb) {
    for col in ["c2", "c3", "c4", "c5", "c6"] {
        // SQLite's own text of the stored number; PostgreSQL's numeric
        // text must be the same decimal.
        let want: Vec<Option<String>> = sqlite_rows(src, &format!("SELECT rowid, CAST({col} AS TEXT) FROM a ORDER BY rowid"))
            .into_iter()
            .map(|(_, v)| match v {
                rusqlite::types::Value::Text(t) => Some(t.strip_suffix(".0").unwrap_or(&t).to_string()),
                rusqlite::types::Value::Null => None,
                o => panic!("{o:?}"),
            })
            .collect();
        let got: Vec<Option<String>> =
            db.query_strings(&format!("SELECT {col}::text FROM a ORDER BY {col} NULLS FIRST")).into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(got, want, "decimal.db {col}");
    }
}

fn check_text_of_sqlite(src: &Path, db: &TestDb, table: &str, col: &str) {
    let want: Vec<Option<String>> = sqlite_rows(src, &format!("SELECT rowid, CAST(\"{col}\" AS TEXT) FROM \"{table}\" ORDER BY rowid"))
        .into_iter()
        .map(|(_, v)| match v {
            rusqlite::types::Value::Text(t) => Some(t),
            rusqlite::types::Value::Null => None,
            o => panic!("{o:?}"),
        })
        .collect();
    let mut want = want;
    let mut got: Vec<Option<String>> =
        db.query_strings(&format!("SELECT \"{col}\" FROM \"{table}\"")).into_iter().map(|r| r[0].clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{table}.{col}");
}

fn check_lossy_text(src: &Path, db: &TestDb, table: &str, col: &str) {
    let c = sqlite(src);
    let mut s = c.prepare(&format!("SELECT rowid, CAST(\"{col}\" AS BLOB) FROM \"{table}\"")).unwrap();
    let want: Vec<(i64, String)> = s
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, String::from_utf8_lossy(&r.get::<_, Vec<u8>>(1)?).into_owned())))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pg = pg_map(db, &format!("SELECT id::text, \"{col}\" FROM \"{table}\""));
    for (k, v) in want {
        assert_eq!(pg[&k.to_string()].as_deref(), Some(v.as_str()), "{table}.{col} rowid {k}");
    }
}

fn check_float_bits(src: &Path, db: &TestDb, table: &str, col: &str) {
    let mut want: Vec<Option<String>> = sqlite_rows(src, &format!("SELECT rowid, \"{col}\" FROM \"{table}\""))
        .into_iter()
        .map(|(_, v)| match v {
            rusqlite::types::Value::Real(f) => Some(format!("\\x{:016x}", f.to_bits())),
            rusqlite::types::Value::Null => None,
            o => panic!("{o:?}"),
        })
        .collect();
    let mut got: Vec<Option<String>> =
        db.query_strings(&format!("SELECT float8send(\"{col}\")::text FROM \"{table}\"")).into_iter().map(|r| r[0].clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

const WEBKIT_1601_US: i128 = 11_644_473_600_000_000;

fn check_chrome(src: &Path, db: &TestDb) {
    check_epoch_column(db, src, "urls", "id", "last_visit_time", |v| v as i128 - WEBKIT_1601_US);
    check_epoch_column(db, src, "visits", "id", "visit_time", |v| v as i128 - WEBKIT_1601_US);
    for col in ["start_time", "end_time", "last_access_time"] {
        check_epoch_column(db, src, "downloads", "id", col, |v| v as i128 - WEBKIT_1601_US);
    }
    // The typo'd `INTEGER NON` type is an INTEGER: bigint.
    let ty = db.query_strings("SELECT data_type FROM information_schema.columns WHERE table_name = 'segments' AND column_name = 'url_id'");
    assert_eq!(ty[0][0].as_deref(), Some("bigint"));
    check_counts(src, db);
}

fn check_firefox(src: &Path, db: &TestDb) {
    check_epoch_column(db, src, "moz_places", "id", "last_visit_date", |v| v as i128);
    check_epoch_column(db, src, "moz_historyvisits", "id", "visit_date", |v| v as i128);
    check_epoch_column(db, src, "moz_bookmarks", "id", "dateAdded", |v| v as i128);
    check_epoch_column(db, src, "moz_bookmarks", "id", "lastModified", |v| v as i128);
    check_epoch_column(db, src, "moz_items_annos", "id", "dateAdded", |v| v as i128);
    check_counts(src, db);
}

/// Every table PostgreSQL has holds as many rows as the SQLite table of
/// the same name.
fn check_counts(src: &Path, db: &TestDb) -> (usize, i64) {
    let tables = db.query_strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
    let c = sqlite(src);
    let mut rows = 0;
    for t in &tables {
        let t = t[0].as_ref().unwrap();
        let pg = db.query_scalar_i64(&format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")));
        rows += pg;
        let Ok(sq) = c.query_row::<i64, _, _>(&format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")), [], |r| r.get(0)) else {
            continue; // a shortened name (longer than 63 bytes in SQLite): ferry's own verification covers it
        };
        assert_eq!(pg, sq, "count of {t}");
    }
    (tables.len(), rows)
}

/// The done-when files again, with nothing but the suggested mapping; the
/// values must come out as with the hand-written files above.
#[test]
fn named_files_with_suggested_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let run = |rel: &str, name: &str| -> (PathBuf, TestDb, String) {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let src = corpus_copy(rel, &sub);
        let m = sub.join("suggested.toml");
        let s = suggest(&src, &m);
        assert!(s.code == 0, "{s}");
        let db = server().fresh_db(&format!("corpus_suggested_{name}"));
        let out = migrate(&src, &db, &[&m], &[]);
        assert_code(&out, 0);
        (src, db, std::fs::read_to_string(&m).unwrap())
    };
    let (src, db, text) = run("duckdb-sqlite/unix_timestamp.db", "unix");
    assert!(text.contains("seconds since 1970"), "{text}");
    for (table, col) in [("timestamp", "ts"), ("timestamp_fractional", "val")] {
        let pg = pg_micros(&db, table, col, col);
        for (_, v) in sqlite_rows(&src, &format!("SELECT rowid, {col} FROM \"{table}\"")) {
            let v = match v {
                rusqlite::types::Value::Integer(i) => i as f64,
                rusqlite::types::Value::Real(f) => f,
                o => panic!("{o:?}"),
            };
            assert!(pg.values().flatten().any(|us| (*us as f64 - v * 1e6).abs() <= 0.75), "{table} {v}");
        }
    }
    let (src, db, _) = run("duckdb-sqlite/boolean.db", "boolean");
    let pg = pg_map(&db, "SELECT id::text, is_active::text FROM entry");
    for (k, v) in sqlite_rows(&src, "SELECT id, is_active FROM entry") {
        assert_eq!(pg[&k].as_deref(), Some(if v == rusqlite::types::Value::Integer(1) { "true" } else { "false" }));
    }
    let (src, db, _) = run("duckdb-sqlite/decimal.db", "decimal");
    check_decimal(&src, &db);
    let (src, db, _) = run("duckdb-sqlite/mixed_data_numeric.db", "mixed");
    check_text_of_sqlite(&src, &db, "tbl", "a");
    let (src, db, _) = run("duckdb-sqlite/float.db", "float");
    check_float_bits(&src, &db, "my", "a");
    let (src, db, _) = run("pgloader/type-mismatch.db", "mismatch");
    check_text_of_sqlite(&src, &db, "products", "qty");
    let (src, db, text) = run("pgloader/bad-utf8.db", "badutf8");
    assert!(text.contains("LOSSY"), "{text}");
    check_lossy_text(&src, &db, "files", "filename");
    let (src, db, text) = run("plaso/firefox_places.sqlite", "firefox");
    assert!(text.contains("microseconds since 1970"), "{text}");
    check_firefox(&src, &db);
    let (src, db, text) = run("plaso/chrome_History-59.0.3071.86.sqlite", "chrome");
    assert!(text.contains("microseconds since 1601"), "{text}");
    check_epoch_column(&db, &src, "urls", "id", "last_visit_time", |v| v as i128 - WEBKIT_1601_US);
    check_epoch_column(&db, &src, "visits", "id", "visit_time", |v| v as i128 - WEBKIT_1601_US);
    check_epoch_column(&db, &src, "downloads", "id", "start_time", |v| v as i128 - WEBKIT_1601_US);
    check_counts(&src, &db);
}

/// One corpus file's outcome.
struct Outcome {
    file: String,
    suggest: String,
    migrate: i32,
    /// Rows of every table in the target, by name, sorted.
    counts: Vec<(String, i64)>,
    seconds: f64,
    note: String,
}

impl Outcome {
    /// Its lines of `corpus_expected.tsv`: one per table in the target (one
    /// with table `-` when there is none): file, exit code, note (why it
    /// refused, what was lossy), table, rows. Table names are written as
    /// Rust string literals, so no name can break a line or a column.
    fn expected_lines(&self) -> Vec<String> {
        let line = |t: &str, n: i64| format!("{}\t{}\t{}\t{t}\t{n}", self.file, self.migrate, self.note);
        if self.counts.is_empty() {
            return vec![line("-", 0)];
        }
        self.counts.iter().map(|(t, n)| line(&format!("{t:?}"), *n)).collect()
    }
}

/// `tests/it/corpus_expected.tsv`: what each of the corpus files does, as
/// committed. The test compares against it and never rewrites it; after a
/// deliberate change, the failure message prints the lines to commit.
fn expected_outcomes() -> std::collections::BTreeMap<String, Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/corpus_expected.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut by_file: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let file = l.split('\t').next().unwrap().to_string();
        by_file.entry(file).or_default().push(l.to_string());
    }
    by_file
}

fn manifest_files() -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    text.lines().skip(1).filter_map(|l| l.split('\t').next()).filter(|f| !f.is_empty()).map(str::to_string).collect()
}

/// Every SQLite file of the corpus: suggest, then migrate with the
/// suggestion. Exit 0 with equal counts, or exit 2 before loading with the
/// columns that cannot convert; and each file exactly as
/// `corpus_expected.tsv` says: exit code, note, every table's row count.
#[test]
fn whole_corpus_with_suggested_mappings() {
    let files = manifest_files();
    assert_eq!(files.len(), 47, "the corpus has 47 files (README)");
    let expected = expected_outcomes();
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let next = Mutex::new(files.iter().enumerate());
    let results: Mutex<Vec<(usize, Result<Outcome, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let Some((i, rel)) = next.lock().unwrap().next() else { return };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one_file(dir.path(), i, rel)))
                    .unwrap_or_else(|p| {
                        Err(p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default())
                    });
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let mut table = String::from("| file | suggestion | migrate | tables | rows | s | note |\n|---|---|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    let mut actual_tsv = Vec::new();
    for (i, r) in &results {
        match r {
            Ok(o) => {
                table.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {:.1} | {} |\n",
                    o.file,
                    o.suggest,
                    match (o.migrate, o.note.starts_with("only virtual")) {
                        (0, _) => "exit 0, counts and hashes equal",
                        (_, true) => "exit 2: nothing to migrate",
                        _ => "exit 2 before loading",
                    },
                    o.counts.len(),
                    o.counts.iter().map(|(_, n)| n).sum::<i64>(),
                    o.seconds,
                    o.note
                ));
                let lines = o.expected_lines();
                match expected.get(&o.file) {
                    None => failures.push(format!("{}: not in corpus_expected.tsv", o.file)),
                    Some(want) if *want != lines => failures.push(format!(
                        "{}: differs from corpus_expected.tsv\n  expected:\n    {}\n  actual:\n    {}",
                        o.file,
                        want.join("\n    "),
                        lines.join("\n    ")
                    )),
                    Some(_) => {}
                }
                actual_tsv.extend(lines);
            }
            Err(e) => failures.push(format!("{}: {e}", files[*i])),
        }
    }
    for f in expected.keys().filter(|f| !files.contains(f)) {
        failures.push(format!("{f}: in corpus_expected.tsv but not in the corpus"));
    }
    eprintln!("\nCorpus with suggested mappings ({} files, {:.1} s):\n{table}", files.len(), t0.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "{} file(s) ended otherwise:\n{}\n---- the lines this run produced (commit them to corpus_expected.tsv only if the change is meant) ----\n{}",
        failures.len(),
        failures.join("\n\n"),
        actual_tsv.join("\n")
    );
}

/// The README's corpus table says what `corpus_expected.tsv` pins: per file,
/// the exit code, the number of tables and of rows loaded.
#[test]
fn readme_corpus_table_matches_the_expected_outcomes() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("## Corpus results").nth(1).expect("README has a corpus section");
    let mut seen = 0;
    for (file, lines) in expected_outcomes() {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{file}` |")))
            .unwrap_or_else(|| panic!("README's corpus table has no row for {file}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let cols: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
        let exit = cols[0][1];
        let tables = cols.iter().filter(|c| c[3] != "-").count();
        let rows: i64 = cols.iter().map(|c| c[4].parse::<i64>().unwrap()).sum();
        assert!(cells[3].starts_with(&format!("exit {exit}")), "{file}: README says {:?}, expected exit {exit}", cells[3]);
        assert_eq!(cells[4], tables.to_string(), "{file}: tables");
        assert_eq!(cells[5], rows.to_string(), "{file}: rows loaded");
        seen += 1;
    }
    assert_eq!(seen, 47, "every corpus file is in corpus_expected.tsv");
}

fn one_file(dir: &Path, i: usize, rel: &str) -> Result<Outcome, String> {
    let t0 = Instant::now();
    let sub = dir.join(format!("f{i:02}"));
    std::fs::create_dir_all(&sub).unwrap();
    let src = corpus_copy(rel, &sub);
    let m = sub.join("suggested.toml");
    let s = suggest(&src, &m);
    if s.code != 0 && s.code != 1 {
        return Err(format!("suggest-mapping failed:\n{s}"));
    }
    let text = std::fs::read_to_string(&m).unwrap_or_default();
    let lossy = s.stderr.lines().filter(|l| l.starts_with("lossy:")).count();
    let stuck = s.stderr.lines().filter(|l| l.starts_with("no total conversion:")).count();
    let suggest_words = match (lossy, stuck) {
        (0, 0) => "total".to_string(),
        (l, 0) => format!("total, {l} lossy"),
        (0, n) => format!("{n} column(s) not total"),
        (l, n) => format!("{l} lossy, {n} not total"),
    };
    let db = server().fresh_db(&format!("corpus_all_{i:02}"));
    let out = migrate(&src, &db, &[&m], &["-q"]);
    let note = |out: &Output| -> String {
        let mut notes = Vec::new();
        let lossy_cols: Vec<String> = s
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("lossy: "))
            .filter_map(|l| l.split(':').next())
            .map(|l| l.replace("table ", "").replace(", column ", ".").replace('"', ""))
            .collect();
        if !lossy_cols.is_empty() {
            notes.push(format!("lossy: {}", lossy_cols.join(", ")));
        }
        let stuck_cols: Vec<String> = s
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("no total conversion: "))
            .filter_map(|l| l.split(':').next())
            .map(|l| l.replace("table ", "").replace(", column ", ".").replace('"', ""))
            .collect();
        if !stuck_cols.is_empty() {
            notes.push(format!("cannot convert: {}", stuck_cols.join(", ")));
        }
        if out.stderr.contains("NOT VALID") {
            notes.push("FK left NOT VALID (orphans)".into());
        }
        notes.join("; ")
    };
    let outcome = |migrate: i32, counts: Vec<(String, i64)>, note: String| Outcome {
        file: rel.to_string(),
        suggest: suggest_words.clone(),
        migrate,
        counts,
        seconds: t0.elapsed().as_secs_f64(),
        note,
    };
    match out.code {
        0 => {
            check_counts(&src, &db);
            if !text.is_empty() && stuck > 0 {
                return Err(format!("the suggestion said {stuck} column(s) cannot convert, yet migrate succeeded\n{out}"));
            }
            Ok(outcome(0, pg_counts(&db), note(&out)))
        }
        2 if out.stderr.contains("no table left to migrate") && only_virtual(&src) => {
            Ok(outcome(2, pg_counts(&db), "only virtual tables and their shadow tables: nothing to migrate".into()))
        }
        2 => {
            if !out.stderr.contains("cannot convert") {
                return Err(format!("exit 2, but not for values that cannot convert:\n{out}"));
            }
            let tables = db.query_scalar_i64("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
            if tables != 0 {
                return Err(format!("exit 2 after creating {tables} table(s): not before loading\n{out}"));
            }
            Ok(outcome(2, pg_counts(&db), note(&out)))
        }
        _ => Err(format!("unexpected exit code\n{out}\n---- suggested mapping ----\n{text}")),
    }
}

/// Every base table of the target's `public` schema with its row count,
/// sorted by name.
fn pg_counts(db: &TestDb) -> Vec<(String, i64)> {
    let mut names: Vec<String> = db
        .query_strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|t| {
            let n = db.query_scalar_i64(&format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")));
            (t, n)
        })
        .collect()
}

/// Every table of the file is a virtual table or one of its shadow tables,
/// which ferry does not migrate (README: "Not migrated").
fn only_virtual(src: &Path) -> bool {
    let c = sqlite(src);
    let mut s = c.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").unwrap();
    let tables: Vec<(String, String)> = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let virt: Vec<&String> = tables.iter().filter(|(_, sql)| sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL TABLE")).map(|(n, _)| n).collect();
    !virt.is_empty() && tables.iter().all(|(n, _)| virt.contains(&n) || virt.iter().any(|v| n.starts_with(&format!("{v}_"))))
}

/// Safari's History.db with the browser-history example: Mac absolute
/// time (REAL seconds since 2001) in every time column. `metadata.value`
/// (integers next to binary plists) has no total conversion and is left
/// out here.
#[test]
fn safari_with_browser_history_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let src = corpus_copy("plaso/safari_History.db", dir.path());
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/examples/browser-history.toml");
    let m = write(dir.path(), "meta.toml", "[tables.metadata.columns]\nvalue = { exclude = true }\n");
    let db = server().fresh_db("corpus_safari");
    assert_code(&migrate(&src, &db, &[&browser, &m], &[]), 0);
    const APPLE_2001_S: f64 = 978_307_200.0;
    for (table, col) in [("history_visits", "visit_time"), ("history_tombstones", "start_time"), ("history_tombstones", "end_time")] {
        let pg = pg_micros(&db, table, "id", col);
        let rows = sqlite_rows(&src, &format!("SELECT id, \"{col}\" FROM \"{table}\""));
        assert!(!rows.is_empty());
        for (k, v) in rows {
            let rusqlite::types::Value::Real(f) = v else { panic!("{table}.{col} {k}: {v:?}") };
            let us = pg[&k].unwrap_or_else(|| panic!("{table}.{col} {k} is NULL"));
            // Exact to the microsecond the REAL can express.
            let want = (f + APPLE_2001_S) * 1e6;
            assert!((us as f64 - want).abs() <= 1.0 + want.abs() * 1e-15, "{table}.{col} {k}: {f} → {us}");
        }
    }
    check_counts(&src, &db);
}
