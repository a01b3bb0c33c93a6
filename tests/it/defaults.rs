//! Create mode keeps the schema's column defaults (issue 13, point 5): an
//! application that inserts without those columns works on PostgreSQL and
//! gets the values SQLite gives for the same insert; defaults without a
//! PostgreSQL equivalent are listed by column.

use std::collections::HashMap;

use crate::util::case::{self, Case};
use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

const SCHEMA: &str = "
    CREATE TABLE items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        qty INTEGER NOT NULL DEFAULT 0,
        price REAL DEFAULT -1.5,
        flag BOOLEAN NOT NULL DEFAULT 0,
        active BOOLEAN NOT NULL DEFAULT TRUE,
        note TEXT DEFAULT 'it''s',
        raw BLOB DEFAULT X'00FF',
        amount NUMERIC(10,2) DEFAULT 0,
        nada TEXT DEFAULT NULL,
        created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
        created_txt TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        day DATE DEFAULT CURRENT_DATE,
        tod TIME DEFAULT CURRENT_TIME,
        updated_at DATETIME DEFAULT (datetime('now')),
        precise TEXT DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
        precise_dt DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),
        epoch INTEGER DEFAULT (strftime('%s', 'now')),
        jd REAL DEFAULT (julianday('now')),
        token TEXT DEFAULT (lower(hex(randomblob(4))))
    );
    INSERT INTO items (name) VALUES ('seed');
";

/// Every column but the key, as PostgreSQL prints it.
const COLUMNS: &[&str] = &[
    "qty",
    "price",
    "flag",
    "active",
    "note",
    "raw",
    "amount",
    "nada",
    "created_at",
    "created_txt",
    "day",
    "tod",
    "updated_at",
    "precise",
    "precise_dt",
    "epoch",
    "jd",
    "token",
];

fn migrate(db: &TestDb, src: &std::path::Path) -> crate::util::cmd::Output {
    migrate_with(db, src, &[])
}

/// `ferry migrate --json EXTRA` ([`case::migrate`]).
fn migrate_with(db: &TestDb, src: &std::path::Path, extra: &[&str]) -> crate::util::cmd::Output {
    case::migrate(src, db, &[&["--json"], extra].concat())
}

fn row(db: &TestDb, name: &str) -> HashMap<&'static str, Option<String>> {
    let list: Vec<String> = COLUMNS.iter().map(|c| format!("{c}::text")).collect();
    let rows = db.query_strings(&format!(
        "SELECT {} FROM items WHERE name = '{name}'",
        list.join(", ")
    ));
    assert_eq!(rows.len(), 1, "one row {name:?}");
    COLUMNS
        .iter()
        .copied()
        .zip(rows[0].iter().cloned())
        .collect()
}

/// Digits as `9`: the layout of a date/time text.
fn shape(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

#[test]
fn inserts_without_defaulted_columns_get_what_sqlite_gives() {
    let Case { dir: _dir, src, db } = Case::new("defaults_app", SCHEMA);
    let out = migrate(&db, &src);
    assert_code(&out, 0);
    // Listed, with its SQLite text, in the report and on stderr.
    assert!(
        out.stderr
            .contains("column \"token\": default lower(hex(randomblob(4))) not carried"),
        "{}",
        out.stderr
    );
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(doc["notes"].to_string().contains("randomblob"), "{doc}");

    // The application inserts on PostgreSQL (in another session time zone:
    // SQLite's 'now' is UTC whatever the client's zone) …
    db.query_strings("SET TimeZone = 'America/New_York'; INSERT INTO items (name) VALUES ('app')");
    // … and the same insert on SQLite, loaded by ferry into another database.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("INSERT INTO items (name) VALUES ('app')", [])
        .unwrap();
    drop(conn);
    let reference = server().fresh_db("defaults_reference");
    assert_code(&migrate(&reference, &src), 0);

    let got = row(&db, "app");
    let want = row(&reference, "app");
    for c in [
        "qty", "price", "flag", "active", "note", "raw", "amount", "nada",
    ] {
        assert_eq!(got[c], want[c], "column {c}");
    }
    assert_eq!(got["flag"].as_deref(), Some("false"));
    assert_eq!(got["note"].as_deref(), Some("it's"));
    assert_eq!(got["nada"], None);
    assert_eq!(
        got["token"], None,
        "not carried: the application must supply it"
    );
    assert!(want["token"].is_some());
    // Clock values: the same layout (text columns keep SQLite's format) and
    // within a few seconds of each other.
    let seconds_apart = |ty: &str, a: &str, b: &str| -> f64 {
        let r = db.query_strings(&format!(
            "SELECT abs(extract(epoch FROM ('{a}'::{ty} - '{b}'::{ty})))::float8::text"
        ));
        r[0][0].as_deref().unwrap().parse().unwrap()
    };
    for (c, ty) in [
        ("created_at", "timestamp"),
        ("created_txt", "timestamp"),
        ("updated_at", "timestamp"),
        ("precise", "timestamp"),
        ("precise_dt", "timestamp"),
        ("tod", "time"),
    ] {
        let (g, w) = (got[c].as_deref().unwrap(), want[c].as_deref().unwrap());
        if !c.starts_with("precise") {
            assert_eq!(shape(g), shape(w), "column {c}: {g} vs {w}");
        }
        assert!(seconds_apart(ty, g, w) < 5.0, "column {c}: {g} vs {w}");
    }
    // … and near now, in UTC as SQLite's 'now' is.
    let now = db.query_strings("SELECT (now() AT TIME ZONE 'UTC')::text")[0][0]
        .clone()
        .unwrap();
    let created = got["created_at"].as_deref().unwrap();
    assert!(
        seconds_apart("timestamp", created, &now) < 5.0,
        "{created} vs {now}"
    );
    assert_eq!(
        shape(got["created_txt"].as_deref().unwrap()),
        "9999-99-99 99:99:99",
        "SQLite's format, not PostgreSQL's"
    );
    assert_eq!(
        shape(got["precise"].as_deref().unwrap()),
        "9999-99-99 99:99:99.999"
    );
    assert_eq!(got["day"].as_deref().map(shape), Some("9999-99-99".into()));
    let jd =
        |m: &HashMap<&str, Option<String>>| m["jd"].as_deref().unwrap().parse::<f64>().unwrap();
    assert!(
        (jd(&got) - jd(&want)).abs() * 86_400.0 < 5.0,
        "{:?} vs {:?}",
        got["jd"],
        want["jd"]
    );
    let epoch =
        |m: &HashMap<&str, Option<String>>| m["epoch"].as_deref().unwrap().parse::<i64>().unwrap();
    assert!(
        (epoch(&got) - epoch(&want)).abs() < 5,
        "{:?} vs {:?}",
        got["epoch"],
        want["epoch"]
    );
}

#[test]
fn plan_shows_the_defaults_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "app.db", SCHEMA);
    let out = ferry(&["plan", src.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(
        out.stdout
            .contains("ALTER COLUMN \"flag\" SET DEFAULT false"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("ALTER COLUMN \"created_txt\" SET DEFAULT to_char("),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("column \"token\": default lower(hex(randomblob(4))) not carried"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_clock_default_into_timestamptz_is_read_in_the_mapping_s_zone_as_the_load_reads_it() {
    // SQLite writes UTC text without an offset; a mapping that reads naive
    // text as Kolkata time (+05:30) loads such text 5.5 hours earlier, and
    // the default must give what the load would.
    let Case { dir, src, db } = Case::new(
        "defaults_tz",
        "CREATE TABLE ev (id INTEGER PRIMARY KEY, name TEXT NOT NULL, at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
                          at_ms DATETIME DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')));
         INSERT INTO ev (name) VALUES ('seed');",
    );
    let mapping = dir.path().join("tz.toml");
    std::fs::write(&mapping, "[settings]\ntimezone = \"Asia/Kolkata\"\n\n[types]\nDATETIME = { type = \"timestamptz\" }\n").unwrap();
    let m = mapping.to_str().unwrap();
    assert_code(&migrate_with(&db, &src, &["--mapping", m]), 0);
    db.query_strings("INSERT INTO ev (name) VALUES ('app')");
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("INSERT INTO ev (name) VALUES ('app')", [])
        .unwrap();
    drop(conn);
    let reference = server().fresh_db("defaults_tz_reference");
    assert_code(&migrate_with(&reference, &src, &["--mapping", m]), 0);
    let number = |db: &TestDb, sql: String| -> f64 {
        db.query_strings(&sql)[0][0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    };
    for c in ["at", "at_ms"] {
        let sql = format!("SELECT {c}::text FROM ev WHERE name = 'app'");
        let got = db.query_strings(&sql)[0][0].clone().unwrap();
        let want = reference.query_strings(&sql)[0][0].clone().unwrap();
        let apart = number(
            &db,
            format!(
                "SELECT abs(extract(epoch FROM ('{got}'::timestamptz - '{want}'::timestamptz)))::float8::text"
            ),
        );
        assert!(apart < 5.0, "column {c}: {got} vs {want}");
        let behind = number(
            &db,
            format!("SELECT extract(epoch FROM (now() - '{got}'::timestamptz))::float8::text"),
        );
        assert!(
            (behind - 19_800.0).abs() < 5.0,
            "column {c}: {got} is {behind} s before now, not 5.5 h"
        );
    }
}
