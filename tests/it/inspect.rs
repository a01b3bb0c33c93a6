//! `ferry inspect` through the built binary: every corpus file, the awkward
//! cases the corpus README names, and files that are not databases at all.
//! No PostgreSQL needed. Corpus files are copied into a temp dir first:
//! opening a WAL-mode file creates `-shm`/`-wal` files beside it.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::sqlite::{corpus, corpus_copy, db_from_sql};

fn inspect_json(path: &Path) -> Value {
    let out = ferry(&["inspect", "--json", path.to_str().expect("utf-8 temp path")]);
    assert_code(&out, 0);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{out}"))
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .expect("tables array")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("table {name:?} not in the report"))
}

fn column<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["columns"]
        .as_array()
        .expect("columns array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("column {name:?} not in table {}", table["name"]))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn skipped<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["not_migrated"]
        .as_array()
        .expect("not_migrated array")
        .iter()
        .filter(|s| s["kind"] == kind)
        .collect()
}

fn corpus_files() -> Vec<String> {
    let manifest = corpus("MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest).expect("read MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every `sqlite_schema` table of the corpus file is either a table in the
/// report (with SQLite's own row count) or listed as a virtual or shadow
/// table; nothing else, nothing twice.
#[test]
fn every_corpus_file_inspects() {
    let files = corpus_files();
    assert!(
        files.len() >= 47,
        "MANIFEST.tsv lists {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for rel in &files {
        let dir = tempfile::tempdir().unwrap();
        let copy = corpus_copy(rel, dir.path());
        let out = ferry(&["inspect", "--json", copy.to_str().unwrap()]);
        if out.code != 0 {
            failures.push(format!("{rel}: exit {}: {}", out.code, out.stderr.trim()));
            continue;
        }
        let report: Value = match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{rel}: stdout is not JSON: {e}"));
                continue;
            }
        };

        let conn = rusqlite::Connection::open_with_flags(
            &copy,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            )
            .unwrap();
        let expected: BTreeSet<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();

        let tables = report["tables"].as_array().unwrap();
        let mut seen = BTreeSet::new();
        for t in tables {
            let name = t["name"].as_str().unwrap().to_string();
            let count: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\"")),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            if t["row_count"].as_i64() != Some(count) {
                failures.push(format!(
                    "{rel}: {name}: row_count {} != {count}",
                    t["row_count"]
                ));
            }
            if !seen.insert(name.clone()) {
                failures.push(format!("{rel}: table {name} listed twice"));
            }
        }
        for s in skipped(&report, "virtual_table")
            .into_iter()
            .chain(skipped(&report, "shadow_table"))
        {
            let name = s["name"].as_str().unwrap().to_string();
            if !seen.insert(name.clone()) {
                failures.push(format!("{rel}: {name} is both a table and not migrated"));
            }
        }
        if seen != expected {
            failures.push(format!(
                "{rel}: tables + virtual/shadow {:?} != sqlite_schema tables {:?}",
                seen.symmetric_difference(&expected).collect::<Vec<_>>(),
                expected.len()
            ));
        }
        let order = strings(&report["load_order"]);
        let names: Vec<String> = tables
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        if order != names {
            failures.push(format!("{rel}: load_order differs from the tables' order"));
        }
        // Parents before children, for every FK between two different
        // tables outside a cycle.
        let cycles: Vec<Vec<String>> = report["cycles"]
            .as_array()
            .unwrap()
            .iter()
            .map(strings)
            .collect();
        for (i, t) in tables.iter().enumerate() {
            for fk in t["foreign_keys"].as_array().unwrap() {
                let parent = fk["ref_table"].as_str().unwrap();
                let Some(p) = order.iter().position(|n| n == parent) else {
                    continue;
                };
                let child = &order[i];
                let in_cycle = cycles
                    .iter()
                    .any(|c| c.contains(child) && c.iter().any(|n| n == parent));
                if p > i && !in_cycle {
                    failures.push(format!("{rel}: {child} loads before its parent {parent}"));
                }
                if t["level"].as_u64() <= tables[p]["level"].as_u64() && p != i && !in_cycle {
                    failures.push(format!("{rel}: {child} is not above its parent {parent}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Opening corpus copies must leave the shared corpus directory untouched.
#[test]
fn corpus_is_never_written_next_to() {
    let dir = corpus("MANIFEST.tsv").parent().unwrap().to_path_buf();
    for sub in ["plaso", "pgloader", "duckdb-sqlite", "chinook", "sqlx"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !(name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal")),
                "{sub}/{name} exists beside the corpus"
            );
        }
    }
}

#[test]
fn chinook_names_keys_and_self_reference() {
    let dir = tempfile::tempdir().unwrap();
    let report = inspect_json(&corpus_copy("chinook/Chinook_Sqlite.sqlite", dir.path()));
    assert_eq!(report["tables"].as_array().unwrap().len(), 11);

    let pt = table(&report, "PlaylistTrack");
    assert_eq!(strings(&pt["primary_key"]), ["PlaylistId", "TrackId"]);
    assert_eq!(pt["row_key"]["kind"], "rowid");
    assert_eq!(column(pt, "TrackId")["pk_position"], 2);

    let artist = table(&report, "Artist");
    assert_eq!(
        artist["row_key"],
        serde_json::json!({"kind": "rowid_alias", "column": 0})
    );
    assert_eq!(artist["row_count"], 275);

    let emp = table(&report, "Employee");
    let fk = emp["foreign_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| strings(&f["columns"]) == ["ReportsTo"])
        .expect("Employee.ReportsTo FK");
    assert_eq!(fk["ref_table"], "Employee");
    assert_eq!(strings(&fk["ref_columns"]), ["EmployeeId"]);
    assert_eq!(fk["ref_exists"], true);
    assert_eq!(strings(&report["self_references"]), ["Employee"]);
    assert!(report["cycles"].as_array().unwrap().is_empty());

    let order = strings(&report["load_order"]);
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("Artist") < pos("Album") && pos("Album") < pos("Track"));
    assert!(pos("Track") < pos("PlaylistTrack") && pos("Playlist") < pos("PlaylistTrack"));
    assert!(pos("Invoice") < pos("InvoiceLine") && pos("Customer") < pos("Invoice"));
    assert_eq!(table(&report, "Artist")["level"], 0);
    assert_eq!(table(&report, "InvoiceLine")["level"], 3);

    let total = column(table(&report, "Invoice"), "Total");
    assert_eq!(total["decl_type"], "NUMERIC(10,2)");
    assert_eq!(total["affinity"], "NUMERIC");
}

#[test]
fn without_rowid_table() {
    let dir = tempfile::tempdir().unwrap();
    let report = inspect_json(&corpus_copy("duckdb-sqlite/norowid.db", dir.path()));
    let t = &report["tables"][0];
    assert_eq!(t["row_key"]["kind"], "without_rowid");
    assert_eq!(t["row_count"], 2);
    assert_eq!(column(t, "word")["pk_position"], 1);
}

#[test]
fn fts_virtual_and_shadow_tables_are_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let copy = corpus_copy("duckdb-sqlite/fts.db", dir.path());
    let report = inspect_json(&copy);
    assert!(report["tables"].as_array().unwrap().is_empty());
    let vt = skipped(&report, "virtual_table");
    assert_eq!(vt.len(), 1);
    assert_eq!(vt[0]["name"], "email");
    assert!(
        vt[0]["reason"].as_str().unwrap().contains("NOT migrated"),
        "{}",
        vt[0]
    );
    let shadows: BTreeSet<&str> = skipped(&report, "shadow_table")
        .iter()
        .inspect(|s| assert_eq!(s["table"], "email"))
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [
        "email_config",
        "email_content",
        "email_data",
        "email_docsize",
        "email_idx",
    ]
    .into();
    assert_eq!(shadows, want);

    let out = ferry(&["inspect", copy.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("Not migrated (6)"), "{out}");
    assert!(out.stdout.contains("shadow table   email_idx"), "{out}");
}

#[test]
fn rtree_and_external_content_fts4() {
    let dir = tempfile::tempdir().unwrap();
    let report = inspect_json(&corpus_copy("duckdb-sqlite/rtree.db", dir.path()));
    assert!(report["tables"].as_array().unwrap().is_empty());
    assert_eq!(skipped(&report, "shadow_table").len(), 3);

    let report = inspect_json(&corpus_copy("plaso/android_babel.db", dir.path()));
    let vt = skipped(&report, "virtual_table");
    assert_eq!(vt.len(), 2);
    assert!(vt.iter().any(|v| {
        v["reason"]
            .as_str()
            .unwrap()
            .contains("over table \"participants\"")
    }));
    assert_eq!(skipped(&report, "shadow_table").len(), 8);
    table(&report, "participants"); // the external content table itself is migrated
    // Composite FK (message_id, conversation_id).
    let composite = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["foreign_keys"].as_array().unwrap())
        .any(|fk| fk["columns"].as_array().unwrap().len() == 2);
    assert!(composite, "no composite FK found in android_babel.db");
}

#[test]
fn typo_types_and_fks_to_missing_tables() {
    let dir = tempfile::tempdir().unwrap();
    let report = inspect_json(&corpus_copy("plaso/android_contacts2.db", dir.path()));
    let c = column(table(&report, "data_usage_stat"), "last_time_used");
    assert_eq!(c["decl_type"], "INTERGER");
    assert_eq!(c["affinity"], "INTEGER");
    let data = table(&report, "data");
    let missing: BTreeSet<&str> = data["foreign_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ref_exists"] == false)
        .map(|f| f["ref_table"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        BTreeSet::from(["mimetype", "package", "raw_contacts"])
    );
    assert_eq!(
        data["level"], 0,
        "FKs to missing tables do not raise the level"
    );
}

#[test]
fn space_in_path() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("dir with space");
    std::fs::create_dir(&sub).unwrap();
    let copy = corpus_copy("pgloader/my db.sqlite", &sub);
    assert!(copy.to_str().unwrap().contains("with space/my db.sqlite"));
    let report = inspect_json(&copy);
    assert_eq!(report["source"], copy.to_str().unwrap());
    let rows: u64 = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["row_count"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, 3);
    let out = ferry(&["inspect", copy.to_str().unwrap()]);
    assert_code(&out, 0);
}

#[test]
fn profile_counts_storage_classes() {
    let dir = tempfile::tempdir().unwrap();
    let copy = corpus_copy("duckdb-sqlite/emptytype.db", dir.path());
    let out = ferry(&["inspect", "--profile", "--json", copy.to_str().unwrap()]);
    assert_code(&out, 0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let t = &report["tables"][0];
    let c = &t["columns"][0];
    assert_eq!(c["decl_type"], "");
    assert_eq!(c["affinity"], "BLOB");
    let p = &c["profile"];
    let sum: u64 = ["null", "integer", "real", "text", "blob"]
        .iter()
        .map(|k| p[k].as_u64().unwrap())
        .sum();
    assert_eq!(sum, t["row_count"].as_u64().unwrap());
    assert!(p["integer"].as_u64().unwrap() > 0 && p["real"].as_u64().unwrap() > 0);
    assert!(p["text"].as_u64().unwrap() > 0 && p["null"].as_u64().unwrap() > 0);

    // Without --profile there is no profile key.
    let plain = inspect_json(&copy);
    assert!(plain["tables"][0]["columns"][0].get("profile").is_none());
}

#[test]
fn cycle_and_self_reference_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_from_sql(
        dir.path(),
        "cycle.db",
        r#"
        CREATE TABLE leaf (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));
        CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b (id));
        CREATE TABLE b (id INTEGER PRIMARY KEY,
                        a_id INTEGER REFERENCES a (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TABLE node (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES node);
        CREATE TABLE "a""; DROP TABLE x; --" ("sp ace
nl" TEXT REFERENCES node);
        INSERT INTO node VALUES (1, NULL), (2, 1);
        "#,
    );
    let report = inspect_json(&db);
    assert_eq!(report["cycles"], serde_json::json!([["a", "b"]]));
    assert_eq!(strings(&report["self_references"]), ["node"]);
    assert_eq!(
        strings(&report["load_order"]),
        ["a", "b", "node", "leaf", "a\"; DROP TABLE x; --"]
    );
    assert_eq!(table(&report, "a")["level"], 0);
    assert_eq!(table(&report, "b")["level"], 0);
    assert_eq!(table(&report, "leaf")["level"], 1);
    let b = table(&report, "b");
    assert_eq!(b["foreign_keys"][0]["deferred"], true);
    assert_eq!(table(&report, "a")["foreign_keys"][0]["deferred"], false);
    assert_eq!(
        table(&report, "node")["foreign_keys"][0]["ref_columns"],
        serde_json::json!(["id"])
    );
    let odd = table(&report, "a\"; DROP TABLE x; --");
    assert_eq!(odd["columns"][0]["name"], "sp ace\nnl");

    let out = ferry(&["inspect", db.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("a → b → a"), "{out}");
    assert!(out.stdout.contains("Self-referencing tables"), "{out}");
}

fn assert_clean_error(out: &Output, needles: &[&str]) {
    assert_code(out, 2);
    assert!(out.stdout.is_empty(), "error output on stdout\n{out}");
    assert!(out.stderr.starts_with("ferry: "), "{out}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "one line\n{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    for n in needles {
        assert!(out.stderr.contains(n), "stderr lacks {n:?}\n{out}");
    }
}

#[test]
fn not_a_database_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);

    std::fs::write(p("empty.db"), b"").unwrap();
    let out = ferry(&["inspect", p("empty.db").to_str().unwrap()]);
    assert_clean_error(
        &out,
        &["empty.db", "is empty (0 bytes), not a SQLite database"],
    );
    assert_eq!(
        std::fs::metadata(p("empty.db")).unwrap().len(),
        0,
        "the empty file was written"
    );

    std::fs::write(
        p("dump.sql"),
        b"CREATE TABLE t (x);\nINSERT INTO t VALUES (1);\n",
    )
    .unwrap();
    let out = ferry(&["inspect", "--json", p("dump.sql").to_str().unwrap()]);
    assert_clean_error(&out, &["dump.sql", "not a SQLite database", "text file"]);

    let out = ferry(&["inspect", dir.path().to_str().unwrap()]);
    assert_clean_error(&out, &[dir.path().to_str().unwrap(), "is a directory"]);

    let out = ferry(&["inspect", p("no such.db").to_str().unwrap()]);
    assert_clean_error(&out, &["no such.db", "does not exist"]);
    assert!(
        !p("no such.db").exists(),
        "inspect created the missing file"
    );

    let mut garbage = b"SQLite format 3\0".to_vec();
    garbage.extend(std::iter::repeat_n(0x5Au8, 8192));
    std::fs::write(p("garbage.db"), garbage).unwrap();
    let out = ferry(&["inspect", p("garbage.db").to_str().unwrap()]);
    assert_clean_error(&out, &["garbage.db"]);
}

#[test]
fn corrupt_table_is_reported_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_from_sql(
        dir.path(),
        "broken.db",
        "PRAGMA page_size = 4096;
         CREATE TABLE payload (x TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO payload SELECT printf('%0100d', i) FROM n;",
    );
    // Page 2 is the root of `payload`: overwrite its b-tree header.
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[4096..4096 + 64].fill(0xFF);
    std::fs::write(&db, bytes).unwrap();
    let out = ferry(&["inspect", db.to_str().unwrap()]);
    assert_clean_error(&out, &["broken.db", "\"payload\"", "corrupt", "malformed"]);
}
