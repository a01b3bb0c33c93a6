//! Verification (issue 6): `ferry verify` finds every kind of tampering with
//! the target, names the table and the row's key, and reports untouched
//! tables equal; representation changes that keep the meaning (jsonb key
//! order, numeric trailing zeros, the session time zone) are not
//! differences; `ferry migrate` localizes too; and on every corpus file the
//! hash computed during the load equals the one `ferry verify` computes
//! afresh.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::cmd::{assert_code, ferry, Output};
use crate::util::pg::{server, TestDb, TestServer};
use crate::util::sqlite::{corpus_copy, db_from_sql};

/// One table per supported type (three rows each, row 2 is tampered with),
/// plus tables for keys of every kind and a control table.
const TYPES_SQL: &str = r#"
CREATE TABLE t_bigint (id INTEGER PRIMARY KEY, v INTEGER);
INSERT INTO t_bigint VALUES (1, 10), (2, 9223372036854775806), (3, -5);
CREATE TABLE t_int4 (id INTEGER PRIMARY KEY, v INTEGER);
INSERT INTO t_int4 VALUES (1, 1), (2, 2147483646), (3, NULL);
CREATE TABLE t_double (id INTEGER PRIMARY KEY, r REAL);
INSERT INTO t_double VALUES (1, 1.5), (2, 0.1), (3, NULL);
CREATE TABLE t_numps (id INTEGER PRIMARY KEY, n NUMERIC(10,2));
INSERT INTO t_numps VALUES (1, '12.34'), (2, 0.99), (3, -5);
CREATE TABLE t_num (id INTEGER PRIMARY KEY, n NUMERIC);
INSERT INTO t_num VALUES (1, '1.50'), (2, '123.456'), (3, 7);
CREATE TABLE t_text (id INTEGER PRIMARY KEY, s TEXT);
INSERT INTO t_text VALUES (1, 'hello'), (2, NULL), (3, '');
CREATE TABLE t_varchar (id INTEGER PRIMARY KEY, s VARCHAR(20));
INSERT INTO t_varchar VALUES (1, 'abc'), (2, 'abc'), (3, 'x');
CREATE TABLE t_bytea (id INTEGER PRIMARY KEY, b BLOB);
INSERT INTO t_bytea VALUES (1, x'00ff10'), (2, x'00ff10'), (3, x'');
CREATE TABLE t_bool (id INTEGER PRIMARY KEY, f BOOLEAN);
INSERT INTO t_bool VALUES (1, 1), (2, 0), (3, NULL);
CREATE TABLE t_ts (id INTEGER PRIMARY KEY, ts DATETIME);
INSERT INTO t_ts VALUES (1, '2024-01-15 10:30:00.123456'), (2, '2024-01-15 10:30:00'), (3, NULL);
CREATE TABLE t_tstz (id INTEGER PRIMARY KEY, ts DATETIME);
INSERT INTO t_tstz VALUES (1, '2024-01-15T10:30:00Z'), (2, '2024-06-01 12:00:00.5'), (3, '2024-01-15T12:30:00+02:00');
CREATE TABLE t_date (id INTEGER PRIMARY KEY, d DATE);
INSERT INTO t_date VALUES (1, '2024-02-29'), (2, '1970-01-01'), (3, NULL);
CREATE TABLE t_jsonb (id INTEGER PRIMARY KEY, j JSON);
INSERT INTO t_jsonb VALUES (1, '{"b": 1, "a": [1, 2.50]}'), (2, '{"a": 1, "b": [1, 2]}'), (3, 'null');
CREATE TABLE t_uuid (id INTEGER PRIMARY KEY, u UUID);
INSERT INTO t_uuid VALUES (1, '0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11'), (2, '0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a12'), (3, NULL);

-- Integer key by range, over two levels: the far key spreads the first
-- buckets so thin that all the dense keys share the first one.
CREATE TABLE t_range (id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 30000)
INSERT INTO t_range SELECT i, 'row ' || i FROM c;
INSERT INTO t_range VALUES (1000000000000, 'far away');
-- Text key, WITHOUT ROWID: buckets by the key's hash.
CREATE TABLE t_text_pk (code TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO t_text_pk SELECT 'code-' || i, i FROM c;
-- Composite key.
CREATE TABLE t_composite (a INTEGER, b TEXT, v REAL, PRIMARY KEY (a, b));
INSERT INTO t_composite VALUES (1, 'x', 0.25), (2, 'y', 0.5), (2, 'z', 1.0);
-- No key at all (and a duplicate row already in the source).
CREATE TABLE t_nokey (x INTEGER, y TEXT);
INSERT INTO t_nokey VALUES (1, 'a'), (1, 'a'), (2, 'b');
-- Its key is dropped in the target, then a row duplicated.
CREATE TABLE t_dup (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO t_dup VALUES (1, 'one'), (2, 'two'), (3, 'three');
-- No primary key, but a unique NOT NULL column names the rows.
CREATE TABLE t_unique (email TEXT NOT NULL UNIQUE, n INTEGER);
INSERT INTO t_unique VALUES ('a@x', 1), ('b@x', 2);
CREATE TABLE control (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO control VALUES (1, 'c');
"#;

const MAPPING: &str = r#"
[tables.t_tstz.columns.ts]
type = "timestamptz"

[tables.t_int4.columns.v]
type = "integer"
"#;

/// The source and mapping file in `dir`, migrated into a fresh database.
fn migrated(dir: &Path, db_name: &str) -> (PathBuf, PathBuf, TestDb) {
    migrated_on(server(), dir, db_name)
}

fn migrated_on(server: &TestServer, dir: &Path, db_name: &str) -> (PathBuf, PathBuf, TestDb) {
    let src = db_from_sql(dir, "types.db", TYPES_SQL);
    let mapping = dir.join("mapping.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let db = server.fresh_db(db_name);
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--mapping", mapping.to_str().unwrap(), "--json"]);
    assert_code(&out, 0);
    let types = db.query_strings(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY 1, 2",
    );
    let ty = |t: &str, c: &str| {
        types
            .iter()
            .find(|r| r[0].as_deref() == Some(t) && r[1].as_deref() == Some(c))
            .and_then(|r| r[2].clone())
            .unwrap_or_else(|| panic!("no column {t}.{c}"))
    };
    for (t, c, want) in [
        ("t_bigint", "v", "bigint"),
        ("t_int4", "v", "integer"),
        ("t_double", "r", "double precision"),
        ("t_numps", "n", "numeric"),
        ("t_num", "n", "numeric"),
        ("t_text", "s", "text"),
        ("t_varchar", "s", "character varying"),
        ("t_bytea", "b", "bytea"),
        ("t_bool", "f", "boolean"),
        ("t_ts", "ts", "timestamp without time zone"),
        ("t_tstz", "ts", "timestamp with time zone"),
        ("t_date", "d", "date"),
        ("t_jsonb", "j", "jsonb"),
        ("t_uuid", "u", "uuid"),
    ] {
        assert_eq!(ty(t, c), want, "type of {t}.{c}");
    }
    (src, mapping, db)
}

fn verify(src: &Path, mapping: &Path, db: &TestDb, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["verify", src.to_str().unwrap(), &db.url, "--mapping", mapping.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = ferry(&args);
    let json = report(&out);
    (out, json)
}

fn report(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not the JSON report: {e}\n{out}"))
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| (t["table"].as_str().unwrap().to_string(), t["status"].as_str().unwrap().to_string()))
        .collect()
}

fn differences<'a>(report: &'a Value, table: &str) -> Vec<&'a Value> {
    report["differences"].as_array().expect("differences").iter().filter(|d| d["table"] == table).collect()
}

fn exec(db: &TestDb, sql: &str) {
    db.client().batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

struct Case {
    table: &'static str,
    tamper: String,
    undo: String,
    /// Expected status of the table.
    status: &'static str,
    /// Expected difference: kind, key text, differing columns; None when the
    /// rows cannot be named (no key).
    diff: Option<(&'static str, &'static str, &'static [&'static str])>,
}

fn case(table: &'static str, tamper: &str, undo: &str, kind: &'static str, key: &'static str, cols: &'static [&'static str]) -> Case {
    let status = if kind == "different" { "content_differs" } else { "count_differs" };
    Case { table, tamper: tamper.into(), undo: undo.into(), status, diff: Some((kind, key, cols)) }
}

#[test]
fn verify_names_every_tampered_row_by_key() {
    tampered_rows_named_by_key(server());
}

/// The body of the test above, on any server (`pg_versions.rs` runs it on
/// every PostgreSQL version).
pub fn tampered_rows_named_by_key(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let (src, mapping, db) = migrated_on(server, dir.path(), "verify_tamper");
    let (out, json) = verify(&src, &mapping, &db, &[]);
    assert_code(&out, 0);
    assert!(statuses(&json).iter().all(|(_, s)| s == "equal"), "{out}");

    // A float's last bit: the next double after 0.1, written with enough
    // digits to be read back exactly.
    let next = f64::from_bits(0.1f64.to_bits() + 1);
    let cases = vec![
        case("t_bigint", "UPDATE t_bigint SET v = v + 1 WHERE id = 2", "UPDATE t_bigint SET v = v - 1 WHERE id = 2", "different", "id=2", &["v"]),
        case("t_int4", "UPDATE t_int4 SET v = v + 1 WHERE id = 2", "UPDATE t_int4 SET v = v - 1 WHERE id = 2", "different", "id=2", &["v"]),
        case(
            "t_double",
            &format!("UPDATE t_double SET r = '{next:?}'::float8 WHERE id = 2"),
            "UPDATE t_double SET r = '0.1'::float8 WHERE id = 2",
            "different",
            "id=2",
            &["r"],
        ),
        case("t_numps", "UPDATE t_numps SET n = n + 0.01 WHERE id = 2", "UPDATE t_numps SET n = n - 0.01 WHERE id = 2", "different", "id=2", &["n"]),
        // The undo leaves 123.456000: trailing zeros, the same number.
        case("t_num", "UPDATE t_num SET n = n + 0.000001 WHERE id = 2", "UPDATE t_num SET n = n - 0.000001 WHERE id = 2", "different", "id=2", &["n"]),
        case("t_text", "UPDATE t_text SET s = '' WHERE id = 2", "UPDATE t_text SET s = NULL WHERE id = 2", "different", "id=2", &["s"]),
        case("t_varchar", "UPDATE t_varchar SET s = 'abd' WHERE id = 2", "UPDATE t_varchar SET s = 'abc' WHERE id = 2", "different", "id=2", &["s"]),
        case("t_bytea", "UPDATE t_bytea SET b = '\\x00ff11' WHERE id = 2", "UPDATE t_bytea SET b = '\\x00ff10' WHERE id = 2", "different", "id=2", &["b"]),
        case("t_bool", "UPDATE t_bool SET f = NOT f WHERE id = 2", "UPDATE t_bool SET f = NOT f WHERE id = 2", "different", "id=2", &["f"]),
        case(
            "t_ts",
            "UPDATE t_ts SET ts = ts + interval '1 microsecond' WHERE id = 2",
            "UPDATE t_ts SET ts = ts - interval '1 microsecond' WHERE id = 2",
            "different",
            "id=2",
            &["ts"],
        ),
        case(
            "t_tstz",
            "UPDATE t_tstz SET ts = ts + interval '1 microsecond' WHERE id = 2",
            "UPDATE t_tstz SET ts = ts - interval '1 microsecond' WHERE id = 2",
            "different",
            "id=2",
            &["ts"],
        ),
        case("t_date", "UPDATE t_date SET d = d + 1 WHERE id = 2", "UPDATE t_date SET d = d - 1 WHERE id = 2", "different", "id=2", &["d"]),
        // A key renamed; the undo writes the object in another key order
        // and spacing, which jsonb does not keep.
        case(
            "t_jsonb",
            r#"UPDATE t_jsonb SET j = '{"A": 1, "b": [1, 2]}' WHERE id = 2"#,
            r#"UPDATE t_jsonb SET j = '{ "b":[1,2],   "a" : 1 }' WHERE id = 2"#,
            "different",
            "id=2",
            &["j"],
        ),
        case(
            "t_uuid",
            "UPDATE t_uuid SET u = '0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a13' WHERE id = 2",
            "UPDATE t_uuid SET u = '0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a12' WHERE id = 2",
            "different",
            "id=2",
            &["u"],
        ),
        case("t_range", "DELETE FROM t_range WHERE id = 12345", "INSERT INTO t_range VALUES (12345, 'row 12345')", "missing_in_target", "id=12345", &[]),
        case(
            "t_range",
            "UPDATE t_range SET v = 'changed' WHERE id = 29999",
            "UPDATE t_range SET v = 'row 29999' WHERE id = 29999",
            "different",
            "id=29999",
            &["v"],
        ),
        case("t_text_pk", "INSERT INTO t_text_pk VALUES ('zzz-new', 1)", "DELETE FROM t_text_pk WHERE code = 'zzz-new'", "extra_in_target", "code='zzz-new'", &[]),
        case(
            "t_text_pk",
            "UPDATE t_text_pk SET v = -1 WHERE code = 'code-1777'",
            "UPDATE t_text_pk SET v = 1777 WHERE code = 'code-1777'",
            "different",
            "code='code-1777'",
            &["v"],
        ),
        case(
            "t_composite",
            "UPDATE t_composite SET v = v + 1 WHERE a = 2 AND b = 'y'",
            "UPDATE t_composite SET v = v - 1 WHERE a = 2 AND b = 'y'",
            "different",
            "a=2, b='y'",
            &["v"],
        ),
        case(
            "t_dup",
            "DO $$ DECLARE c text; BEGIN \
               SELECT conname INTO c FROM pg_constraint WHERE conrelid = 't_dup'::regclass AND contype = 'p'; \
               EXECUTE format('ALTER TABLE t_dup DROP CONSTRAINT %I', c); END $$; \
             INSERT INTO t_dup SELECT * FROM t_dup WHERE id = 3",
            "DELETE FROM t_dup WHERE id = 3; INSERT INTO t_dup VALUES (3, 'three')",
            "extra_in_target",
            "id=3",
            &[],
        ),
        case(
            "t_unique",
            "UPDATE t_unique SET n = 3 WHERE email = 'b@x'",
            "UPDATE t_unique SET n = 2 WHERE email = 'b@x'",
            "different",
            "email='b@x'",
            &["n"],
        ),
        Case {
            table: "t_nokey",
            tamper: "INSERT INTO t_nokey SELECT * FROM t_nokey WHERE x = 2".into(),
            undo: "DELETE FROM t_nokey WHERE ctid IN (SELECT ctid FROM t_nokey WHERE x = 2 LIMIT 1)".into(),
            status: "count_differs",
            diff: None,
        },
    ];
    for c in &cases {
        exec(&db, &c.tamper);
        let (out, json) = verify(&src, &mapping, &db, &[]);
        let what = format!("after `{}`", c.tamper);
        assert_eq!(out.code, 1, "{what}: expected exit 1\n{out}");
        for (table, status) in statuses(&json) {
            if table == c.table {
                assert_eq!(status, c.status, "{what}: status of {table}\n{out}");
            } else {
                assert_eq!(status, "equal", "{what}: untouched table {table}\n{out}");
            }
        }
        let found = differences(&json, c.table);
        match c.diff {
            Some((kind, key, cols)) => {
                assert_eq!(found.len(), 1, "{what}: one difference expected\n{out}");
                let d = found[0];
                assert_eq!(d["kind"], kind, "{what}\n{out}");
                assert_eq!(d["key"], key, "{what}\n{out}");
                let got: Vec<&str> = d["columns"].as_array().map_or(Vec::new(), |a| a.iter().map(|c| c.as_str().unwrap()).collect());
                assert_eq!(got, cols, "{what}: differing columns\n{out}");
                // Each differing column with both values, which differ.
                let changes = d["changes"].as_array().map_or(Vec::new(), |a| a.iter().collect());
                let changed: Vec<&str> = changes.iter().map(|c| c["column"].as_str().unwrap()).collect();
                assert_eq!(changed, cols, "{what}: changes\n{out}");
                for ch in &changes {
                    assert_ne!(ch["source"], ch["target"], "{what}: the two values\n{out}");
                }
                // The same, for people, on stderr.
                assert!(out.stderr.contains(&format!("table \"{}\": {key}", c.table)), "{what}: stderr\n{out}");
            }
            None => {
                assert!(found.is_empty(), "{what}\n{out}");
                let warnings = json["warnings"].to_string();
                assert!(warnings.contains(c.table) && warnings.contains("cannot be named"), "{what}\n{out}");
                assert!(out.stderr.contains("cannot be named"), "{what}\n{out}");
            }
        }
        // Counts first: a count mismatch is stated with both counts.
        if c.status == "count_differs" {
            assert!(out.stderr.contains("COUNT DIFFERS"), "{what}\n{out}");
        }
        exec(&db, &c.undo);
    }
    // Every undo restored the meaning, if not the bytes (trailing zeros,
    // jsonb written differently).
    let (out, json) = verify(&src, &mapping, &db, &[]);
    assert_code(&out, 0);
    assert!(statuses(&json).iter().all(|(_, s)| s == "equal"), "{out}");
}

#[test]
fn verify_lists_at_most_max_diffs_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (src, mapping, db) = migrated(dir.path(), "verify_max_diffs");
    exec(&db, "UPDATE t_range SET v = v || '!' WHERE id % 7 = 0; UPDATE t_text_pk SET v = v + 1");
    let (out, json) = verify(&src, &mapping, &db, &["--max-diffs", "5"]);
    assert_eq!(out.code, 1, "{out}");
    for t in ["t_range", "t_text_pk"] {
        let d = differences(&json, t);
        assert_eq!(d.len(), 5, "{t}\n{out}");
        assert!(d.iter().all(|d| d["kind"] == "different"), "{out}");
        assert!(json["warnings"].to_string().contains(&format!("table \\\"{t}\\\": more rows differ")), "{out}");
    }
    // Integer keys are listed in key order.
    let keys: Vec<i64> = differences(&json, "t_range").iter().map(|d| d["key_values"][0].as_i64().unwrap()).collect();
    assert_eq!(keys, vec![7, 14, 21, 28, 35], "{out}");
    let (out, json) = verify(&src, &mapping, &db, &[]);
    assert_eq!(out.code, 1);
    assert_eq!(differences(&json, "t_range").len(), 100, "default --max-diffs is 100");
}

#[test]
fn verify_ignores_representation_and_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let (src, mapping, db) = migrated(dir.path(), "verify_no_false_diffs");
    exec(
        &db,
        &format!(
            r#"UPDATE t_jsonb SET j = '{{ "a" : [1,   2.50], "b":1 }}' WHERE id = 1;
               UPDATE t_jsonb SET j = '{{"b": [1, 2], "a": 1, "a": 1}}' WHERE id = 2;
               UPDATE t_num SET n = n::numeric(20, 8);
               UPDATE t_numps SET n = n * 1.000;
               ALTER DATABASE "{}" SET timezone = 'Asia/Tokyo';"#,
            db.url.rsplit('/').next().unwrap().split('?').next().unwrap()
        ),
    );
    // The values did change representation.
    let n = db.query_strings("SELECT n::text FROM t_num WHERE id = 1");
    assert_eq!(n[0][0].as_deref(), Some("1.50000000"));
    let (out, json) = verify(&src, &mapping, &db, &[]);
    assert_code(&out, 0);
    assert!(statuses(&json).iter().all(|(_, s)| s == "equal"), "{out}");
    assert!(json["differences"].as_array().unwrap().is_empty(), "{out}");
}

#[test]
fn migrate_localizes_what_the_target_changed() {
    // A trigger in an existing target rewrites one row as it is loaded.
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "items.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO items VALUES (1, 'a'), (2, 'b'), (7, 'g'), (8, 'h');
         CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO other VALUES (1, 'x');",
    );
    let db = server().fresh_db("verify_migrate_localizes");
    exec(
        &db,
        "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
         CREATE TABLE other (id bigint PRIMARY KEY, v text);
         CREATE FUNCTION bang() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.id = 7 THEN NEW.name := NEW.name || '!'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER bang BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION bang();",
    );
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--json"]);
    assert_eq!(out.code, 1, "{out}");
    let json = report(&out);
    let st = statuses(&json);
    assert!(st.contains(&("items".into(), "content_differs".into())), "{out}");
    assert!(st.contains(&("other".into(), "equal".into())), "{out}");
    let d = differences(&json, "items");
    assert_eq!(d.len(), 1, "{out}");
    assert_eq!(d[0]["kind"], "different");
    assert_eq!(d[0]["key"], "id=7");
    assert_eq!(d[0]["columns"][0], "name");
    // Both values, for people: the source's and the one the trigger made.
    let line = out.stderr.lines().find(|l| l.contains("table \"items\": id=7 (different), name: '")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(" → '") && line.ends_with("!'"), "{line}");
    assert_eq!(d[0]["changes"][0]["target"].as_str().map(|t| t.ends_with('!')), Some(true), "{out}");
    // `ferry verify` reads the target as the load wrote it (integer id, not
    // the bigint it would create) and finds the same row.
    let out = ferry(&["verify", src.to_str().unwrap(), &db.url, "--json"]);
    assert_eq!(out.code, 1, "{out}");
    let json = report(&out);
    assert!(statuses(&json).contains(&("other".into(), "equal".into())), "{out}");
    let d = differences(&json, "items");
    assert_eq!((d.len(), d[0]["key"].as_str()), (1, Some("id=7")), "{out}");
    // Put the row right: verify exits 0.
    exec(&db, "UPDATE items SET name = 'g' WHERE id = 7");
    assert_code(&ferry(&["verify", src.to_str().unwrap(), &db.url]), 0);
}

/// Every corpus file, migrated with the mapping `inspect --suggest-mapping`
/// writes (as in the README's corpus table): the hashes `migrate` reports
/// equal those `verify` computes again. The only files not checked are the
/// ones `tests/it/corpus_expected.tsv` says stop with exit 2, each named with
/// the reason written there; any other exit 2 fails.
#[test]
fn corpus_hashes_after_migrate_equal_verify() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("../shared/corpus/MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let expected = std::fs::read_to_string(root.join("tests/it/corpus_expected.tsv")).unwrap();
    // file → reason, for the files expected to stop with exit 2.
    let refused: std::collections::BTreeMap<&str, &str> = expected
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| c.len() == 5 && c[1] == "2")
        .map(|c| (c[0], c[2]))
        .collect();
    // One database, one PostgreSQL schema per file: creating a database per
    // file would cost more than migrating it.
    let db = server().fresh_db("verify_corpus");
    let (mut checked, mut skipped) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().skip(1).enumerate() {
        let Some(rel) = line.split('\t').next().filter(|r| !r.is_empty()) else { continue };
        let dir = tempfile::tempdir().unwrap();
        let src = corpus_copy(rel, dir.path());
        let mapping = dir.path().join("suggested.toml");
        let s = ferry(&["inspect", src.to_str().unwrap(), &format!("--suggest-mapping={}", mapping.display())]);
        assert!(s.code == 0 || s.code == 1, "{rel}: {s}");
        let schema = format!("corpus_{i}");
        let args = |cmd: &'static str| -> Vec<String> {
            [cmd, src.to_str().unwrap(), &db.url, "--pg-schema", &schema, "--mapping", mapping.to_str().unwrap(), "--json", "-q"]
                .map(String::from)
                .to_vec()
        };
        let run = |cmd| ferry(&args(cmd).iter().map(String::as_str).collect::<Vec<_>>());
        let migrate = run("migrate");
        if let Some(reason) = refused.get(rel) {
            assert_code(&migrate, 2);
            skipped.push(format!("{rel} ({reason})"));
            continue;
        }
        assert_code(&migrate, 0);
        let verify = run("verify");
        assert_code(&verify, 0);
        let (m, v) = (report(&migrate), report(&verify));
        let hashes = |r: &Value| -> Vec<(String, String)> {
            r["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["table"].as_str().unwrap().to_string(), t["hash"].as_str().unwrap_or("").to_string()))
                .collect()
        };
        let (mh, vh) = (hashes(&m), hashes(&v));
        assert!(!mh.is_empty(), "{rel}: no tables");
        assert_eq!(mh, vh, "{rel}: hashes after migrate and from verify differ");
        assert!(mh.iter().all(|(_, h)| h.len() == 64), "{rel}: {mh:?}");
        assert!(statuses(&v).iter().all(|(_, s)| s == "equal"), "{rel}: {verify}");
        checked.push(rel.to_string());
        exec(&db, &format!("DROP SCHEMA {schema} CASCADE"));
    }
    eprintln!("corpus: {} files checked; not checked (exit 2 expected): {skipped:?}", checked.len());
    assert_eq!(checked.len() + skipped.len(), 47, "every corpus file is either checked or named");
    assert_eq!(skipped.len(), refused.len(), "{skipped:?}");
    assert_eq!(checked.len(), 44, "all but the 3 files that have nothing to migrate or cannot convert: {skipped:?}");
}

#[test]
fn rows_rejected_by_the_load_are_left_out_of_localization() {
    // A bad date is rejected by the mapping's policy: the load leaves the row
    // out, and so do verify and its localization, which then name only the
    // row changed in the target.
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "rejects.db",
        "CREATE TABLE ev (id INTEGER PRIMARY KEY, day DATE, note TEXT);
         INSERT INTO ev VALUES (1, '2024-01-01', 'a'), (2, 'not a date', 'b'), (3, '2024-01-03', 'c'), (4, NULL, 'd');",
    );
    let mapping = dir.path().join("m.toml");
    std::fs::write(&mapping, "[tables.ev]\non_bad_value = \"reject\"\n").unwrap();
    let m = mapping.to_str().unwrap();
    let db = server().fresh_db("verify_rejects");
    let rejects = dir.path().join("rejects.jsonl");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--mapping", m, "--reject-file", rejects.to_str().unwrap()]);
    assert_eq!(out.code, 1, "a rejected row makes the exit code 1\n{out}");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM ev"), 3);
    let out = ferry(&["verify", src.to_str().unwrap(), &db.url, "--mapping", m]);
    assert_code(&out, 0);
    exec(&db, "UPDATE ev SET note = 'changed' WHERE id = 3");
    let out = ferry(&["verify", src.to_str().unwrap(), &db.url, "--mapping", m, "--json"]);
    assert_eq!(out.code, 1, "{out}");
    let json = report(&out);
    let d = differences(&json, "ev");
    assert_eq!(d.len(), 1, "{out}");
    assert_eq!((d[0]["key"].as_str(), d[0]["kind"].as_str()), (Some("id=3"), Some("different")), "{out}");
}

/// `ferry verify` plans from the target's column types without a pass over
/// the source, and falls back to profiling the source when a value does not
/// take the conversion the target's type implies. Both paths must agree
/// with what `migrate` loaded: a column create mode widened from the data
/// (text in an INTEGER column), and epoch numbers that `--schema existing`
/// read into a timestamp column with a unit guessed from their magnitude.
#[test]
fn verify_without_profiling_agrees_with_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "modes.db",
        "CREATE TABLE widened (id INTEGER PRIMARY KEY, n INTEGER);
         INSERT INTO widened VALUES (1, 5), (2, 'five'), (3, NULL);
         CREATE TABLE stamped (id INTEGER PRIMARY KEY, at DATETIME);
         INSERT INTO stamped VALUES (1, 1700000000), (2, 1700000001);",
    );
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();

    // Create mode: `n` becomes text; verify plans from that type alone.
    let created = server().fresh_db("verify_modes_created");
    assert_code(&ferry(&["migrate", src.to_str().unwrap(), &created.url, "--json"]), 0);
    assert_eq!(created.query_strings("SELECT n FROM widened ORDER BY id")[1][0].as_deref(), Some("five"));
    let (out, json) = verify(&src, &empty, &created, &["--tables", "widened"]);
    assert_code(&out, 0);
    assert!(statuses(&json).iter().all(|(_, s)| s == "equal"), "{out}");
    let notes = json["notes"].to_string();
    assert!(!notes.contains("profiled"), "the fast path sufficed: {notes}\n{out}");
    // `stamped.at` (DATETIME integers) is a timestamp read as Unix seconds,
    // SQLite's convention, chosen from the data: its numbers send verify to
    // the profiled plan, which reads them as migrate did.
    assert_eq!(created.query_strings("SELECT at::text FROM stamped ORDER BY id")[0][0].as_deref(), Some("2023-11-14 22:13:20"));
    let (out, json) = verify(&src, &empty, &created, &[]);
    assert_code(&out, 0);
    assert!(statuses(&json).iter().all(|(_, s)| s == "equal"), "{out}");
    assert!(json["notes"].to_string().contains("profiled"), "the fallback ran: {out}");
    exec(&created, "UPDATE widened SET n = 'six' WHERE id = 2");
    let (out, json) = verify(&src, &empty, &created, &[]);
    assert_eq!(out.code, 1, "{out}");
    let found = differences(&json, "widened");
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["changes"][0]["column"], "n", "{out}");
    assert_eq!(found[0]["changes"][0]["source"], "five", "{out}");
    assert_eq!(found[0]["changes"][0]["target"], "six", "{out}");
    assert!(out.stderr.contains("n: 'five' → 'six'"), "{out}");
    let schema: serde_json::Value = serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "verify report does not match docs/report.schema.json: {errors:#?}");

    // Existing schema: epoch seconds into `timestamp`, unit guessed by
    // migrate from the data; verify's text conversion refuses the numbers
    // and it profiles the source to plan as migrate did.
    let existing = server().fresh_db("verify_modes_existing");
    existing.query_strings(
        "CREATE TABLE widened (id INTEGER PRIMARY KEY, n TEXT);
         CREATE TABLE stamped (id INTEGER PRIMARY KEY, at TIMESTAMP NOT NULL);",
    );
    let out = ferry(&["migrate", src.to_str().unwrap(), &existing.url, "--schema", "existing", "--json"]);
    assert_code(&out, 0);
    assert_eq!(
        existing.query_strings("SELECT at::text FROM stamped ORDER BY id")[0][0].as_deref(),
        Some("2023-11-14 22:13:20")
    );
    let (out, json) = verify(&src, &empty, &existing, &[]);
    assert_code(&out, 0);
    assert!(statuses(&json).iter().all(|(_, s)| s == "equal"), "{out}");
    assert!(json["notes"].to_string().contains("profiled"), "the fallback ran: {out}");
    exec(&existing, "UPDATE stamped SET at = at + interval '1 second' WHERE id = 1");
    let (out, json) = verify(&src, &empty, &existing, &[]);
    assert_eq!(out.code, 1, "{out}");
    let found = differences(&json, "stamped");
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["kind"], "different", "{out}");
}

/// A source with a table of more than 2 × 1024 heap blocks once in
/// PostgreSQL (read back in pieces, `verify::pieces`) and a small one;
/// migrated.
fn migrated_big(dir: &Path, db_name: &str) -> (PathBuf, TestDb) {
    let src = db_from_sql(
        dir,
        "big.db",
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, n REAL);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)
         INSERT INTO big SELECT i, printf('%080d', i), i / 3.0 FROM c;
         CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO small VALUES (1, 'x');",
    );
    let db = server().fresh_db(db_name);
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--json"]);
    assert_code(&out, 0);
    let blocks = db.query_strings("SELECT (pg_relation_size('big') / current_setting('block_size')::bigint)::text");
    let blocks: u64 = blocks[0][0].as_deref().unwrap().parse().unwrap();
    assert!(blocks > 2 * 1024, "big has {blocks} blocks: too few to be read in pieces");
    (src, db)
}

/// The pieces of a big table together are the table, and a change in any
/// of them is found and named.
#[test]
fn big_tables_read_back_in_pieces_are_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (src, db) = migrated_big(dir.path(), "verify_pieces");
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", src.to_str().unwrap(), &db.url, "--json"];
        args.extend_from_slice(extra);
        let out = ferry(&args);
        let json = report(&out);
        (out, json)
    };
    let (out, json) = verify(&[]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(statuses(&json), vec![("big".into(), "equal".into()), ("small".into(), "equal".into())]);
    // Rows in the first and in the last blocks, and one in the middle.
    exec(&db, "DELETE FROM big WHERE id = 3; UPDATE big SET n = n + 1 WHERE id = 199999; UPDATE big SET v = 'x' WHERE id = 100000");
    let (out, json) = verify(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut found: Vec<(String, String)> = differences(&json, "big")
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_string(), d["key"].as_str().unwrap().to_string()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("different".into(), "id=100000".into()),
            ("different".into(), "id=199999".into()),
            ("missing_in_target".into(), "id=3".into())
        ],
        "{out}"
    );
    assert_eq!(statuses(&json)[1], ("small".into(), "equal".into()));
}

/// Every connection reading the target back imports one snapshot, taken
/// before anything is measured or read: rows committed after it are not
/// seen, by any piece. A session inserts rows at the end of the big table
/// and commits them as soon as `ferry verify` has taken its snapshot (its
/// lead connection has gone on to measure the tables, or a piece is being
/// read), while the four connections are still reading the pieces. With
/// the shared snapshot the rows are never seen (deterministically); without
/// it, the pieces started after the commit, the open-ended last one first,
/// would see them and the counts would differ.
#[test]
fn verify_reads_the_target_as_of_one_moment() {
    let dir = tempfile::tempdir().unwrap();
    let (src, db) = migrated_big(dir.path(), "verify_one_moment");
    let mut writer = db.client();
    writer.batch_execute("BEGIN; INSERT INTO big SELECT i, 'late', 0 FROM generate_series(300001, 300500) i").unwrap();
    let (src_s, url) = (src.to_str().unwrap().to_string(), db.url.clone());
    let run = std::thread::spawn(move || ferry(&["verify", &src_s, &url, "--json"]));
    let mut watch = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let past_the_snapshot = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND (query LIKE '%pg_relation_size%' OR query LIKE 'COPY (%'
                        OR (query LIKE '%pg_export_snapshot%' AND state = 'idle in transaction'))",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0);
        if past_the_snapshot > 0 {
            break;
        }
        assert!(!run.is_finished() && std::time::Instant::now() < deadline, "verify never got past its snapshot");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    writer.batch_execute("COMMIT").unwrap();
    let out = run.join().unwrap();
    assert_eq!(out.code, 0, "rows committed after the snapshot were seen\n{out}");
    // They are there for the next verification.
    let out = ferry(&["verify", src.to_str().unwrap(), &db.url, "--json"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(statuses(&report(&out))[0], ("big".into(), "count_differs".into()), "{out}");
}
