//! Tests of `sqlite::introspect`: row keys, foreign keys, indexes, virtual
//! and shadow tables, generated columns, read from schemas made in memory.

use super::*;

fn db(sql: &str) -> Connection {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch(sql).unwrap();
    c
}

#[test]
fn quoting() {
    assert_eq!(quote_ident("a"), r#""a""#);
    assert_eq!(
        quote_ident(r#"a"; DROP TABLE x; --"#),
        r#""a""; DROP TABLE x; --""#
    );
}

#[test]
fn row_keys_follow_sqlite_rules() {
    let c = db("
            CREATE TABLE alias (id INTEGER PRIMARY KEY, v);
            CREATE TABLE alias_lower (id integer primary key asc, v);
            CREATE TABLE alias_tc (id INTEGER, v, PRIMARY KEY (id DESC));
            CREATE TABLE desc_pk (id INTEGER PRIMARY KEY DESC, v);
            CREATE TABLE int_pk (id INT PRIMARY KEY, v);
            CREATE TABLE text_pk (id TEXT PRIMARY KEY, v);
            CREATE TABLE composite (a INTEGER, b INTEGER, PRIMARY KEY (a, b));
            CREATE TABLE norowid (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
            CREATE TABLE nopk (v);
        ");
    let s = introspect(&c).unwrap();
    let key = |n: &str| s.table(n).unwrap().row_key.clone();
    assert_eq!(key("alias"), RowKey::RowidAlias { column: 0 });
    assert_eq!(key("alias_lower"), RowKey::RowidAlias { column: 0 });
    assert_eq!(key("alias_tc"), RowKey::RowidAlias { column: 0 });
    assert_eq!(key("desc_pk"), RowKey::Rowid);
    assert_eq!(key("int_pk"), RowKey::Rowid);
    assert_eq!(key("text_pk"), RowKey::Rowid);
    assert_eq!(key("composite"), RowKey::Rowid);
    assert_eq!(key("norowid"), RowKey::WithoutRowid);
    assert_eq!(key("nopk"), RowKey::Rowid);
    assert_eq!(s.table("composite").unwrap().primary_key, ["a", "b"]);
}

#[test]
fn rowid_shadowing() {
    let c = db(r#"
            CREATE TABLE a (rowid TEXT, v);
            CREATE TABLE b (ROWID, _rowid_, v);
            CREATE TABLE c (rowid, _rowid_, oid);
            CREATE TABLE d (rowid INTEGER PRIMARY KEY, v);
            CREATE TABLE e (x);
        "#);
    let s = introspect(&c).unwrap();
    let e = |n: &str| rowid_expr(s.table(n).unwrap());
    assert_eq!(e("a").as_deref(), Some("_rowid_"));
    assert_eq!(e("b").as_deref(), Some("oid"));
    assert_eq!(e("c"), None);
    assert_eq!(e("d").as_deref(), Some(r#""rowid""#));
    assert_eq!(e("e").as_deref(), Some("rowid"));
}

#[test]
fn foreign_keys_resolved_and_deferred() {
    let c = db(r#"
            CREATE TABLE "Parent" (Id INTEGER PRIMARY KEY, "Code" TEXT UNIQUE);
            CREATE TABLE pair (a, b, PRIMARY KEY (a, b));
            CREATE TABLE child (
                id INTEGER PRIMARY KEY,
                p INTEGER REFERENCES parent DEFERRABLE INITIALLY DEFERRED,
                code TEXT REFERENCES PARENT (code) ON DELETE SET NULL,
                x, y,
                z REFERENCES nowhere (id),
                CONSTRAINT two FOREIGN KEY (x, y) REFERENCES pair ON UPDATE CASCADE
                    DEFERRABLE INITIALLY IMMEDIATE
            );
        "#);
    let s = introspect(&c).unwrap();
    let names: Vec<_> = s.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Parent", "pair", "child"]);
    let fks = &s.table("child").unwrap().foreign_keys;
    assert_eq!(fks.len(), 4);
    assert_eq!(fks[0].ref_table, "Parent");
    assert_eq!(fks[0].ref_columns, ["Id"]);
    assert!(fks[0].deferred && fks[0].ref_exists);
    assert_eq!(fks[1].columns, ["code"]);
    assert_eq!(fks[1].ref_columns, ["Code"]);
    assert_eq!(fks[1].on_delete, "SET NULL");
    assert!(!fks[1].deferred);
    assert_eq!(fks[2].ref_table, "nowhere");
    assert!(!fks[2].ref_exists);
    assert_eq!(fks[3].columns, ["x", "y"]);
    assert_eq!(fks[3].ref_columns, ["a", "b"]);
    assert_eq!(fks[3].on_update, "CASCADE");
    assert!(!fks[3].deferred);
}

#[test]
fn odd_identifiers_are_bound_not_spliced() {
    let evil = "a\"; DROP TABLE x; --";
    let c = db(&format!(
        "CREATE TABLE x (v); CREATE TABLE {} ({} INTEGER PRIMARY KEY, \"sp ace\nnl\" TEXT);
             INSERT INTO {} VALUES (1, 'a'), (2, 'b');
             CREATE INDEX \"i\"\"x\" ON {} (\"sp ace\nnl\");",
        quote_ident(evil),
        quote_ident(evil),
        quote_ident(evil),
        quote_ident(evil)
    ));
    let s = introspect(&c).unwrap();
    let t = s.table(evil).unwrap();
    assert_eq!(t.row_count, 2);
    assert_eq!(t.columns[1].name, "sp ace\nnl");
    assert_eq!(t.indexes[0].name, "i\"x");
    assert_eq!(t.indexes[0].columns, [Some("sp ace\nnl".to_string())]);
    assert!(s.table("x").is_some());
}

#[test]
fn not_migrated_objects_are_listed() {
    let c = db("
            CREATE TABLE t (a INTEGER, b INTEGER GENERATED ALWAYS AS (a + 1) VIRTUAL,
                            c AS (a * 2) STORED, d TEXT);
            CREATE INDEX t_expr ON t (lower(d));
            CREATE INDEX t_part ON t (a) WHERE a > 0;
            CREATE VIEW v AS SELECT a FROM t;
            CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;
            CREATE VIRTUAL TABLE f USING fts5(body);
            CREATE VIRTUAL TABLE r USING rtree(id, x0, x1);
            CREATE TABLE f_notes (n);  -- not an fts5 suffix: an ordinary table
        ");
    let s = introspect(&c).unwrap();
    let names: Vec<_> = s.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["t", "f_notes"]);
    let t = s.table("t").unwrap();
    assert_eq!(
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "d"]
    );
    let part = t.indexes.iter().find(|i| i.name == "t_part").unwrap();
    assert!(part.partial);
    let expr = t.indexes.iter().find(|i| i.name == "t_expr").unwrap();
    assert_eq!(expr.columns, [None]);
    let kinds: Vec<(SkippedKind, &str, Option<&str>)> = s
        .skipped
        .iter()
        .map(|k| (k.kind, k.name.as_str(), k.table.as_deref()))
        .collect();
    for want in [
        (SkippedKind::GeneratedColumn, "b", Some("t")),
        (SkippedKind::GeneratedColumn, "c", Some("t")),
        (SkippedKind::Index, "t_expr", Some("t")),
        (SkippedKind::View, "v", None),
        (SkippedKind::Trigger, "tr", Some("t")),
        (SkippedKind::VirtualTable, "f", None),
        (SkippedKind::ShadowTable, "f_data", Some("f")),
        (SkippedKind::ShadowTable, "f_idx", Some("f")),
        (SkippedKind::ShadowTable, "f_content", Some("f")),
        (SkippedKind::ShadowTable, "f_docsize", Some("f")),
        (SkippedKind::ShadowTable, "f_config", Some("f")),
        (SkippedKind::VirtualTable, "r", None),
        (SkippedKind::ShadowTable, "r_node", Some("r")),
        (SkippedKind::ShadowTable, "r_rowid", Some("r")),
        (SkippedKind::ShadowTable, "r_parent", Some("r")),
    ] {
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
}

#[test]
fn virtual_table_reasons_say_where_the_data_is() {
    let c = db("
            CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
            CREATE VIRTUAL TABLE docs_fts USING fts4(content=\"docs\", body);
            CREATE VIRTUAL TABLE own USING fts5(body);
            INSERT INTO own VALUES ('a'), ('b');
            CREATE VIRTUAL TABLE bare USING fts5(body, content='');
        ");
    let s = introspect(&c).unwrap();
    assert_eq!(s.tables.len(), 1);
    let reason = |n: &str| {
        s.skipped
            .iter()
            .find(|k| k.name == n)
            .map(|k| k.reason.clone())
            .unwrap()
    };
    assert!(
        reason("docs_fts").contains("over table \"docs\""),
        "{}",
        reason("docs_fts")
    );
    assert!(
        reason("own").contains("its 2 rows are NOT migrated"),
        "{}",
        reason("own")
    );
    assert!(reason("bare").contains("contentless"), "{}", reason("bare"));
    assert!(
        s.skipped
            .iter()
            .any(|k| k.name == "docs_fts_segdir" && k.kind == SkippedKind::ShadowTable)
    );
}

#[test]
fn autoincrement_strict_and_sequence() {
    let c = db("
            CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT DEFAULT 'autoincrement');
            INSERT INTO a (v) VALUES ('x'), ('y');
            CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'AUTOINCREMENT') STRICT;
            CREATE TABLE c (x INTEGER, y ANY, PRIMARY KEY (x)) WITHOUT ROWID, STRICT;
        ");
    let s = introspect(&c).unwrap();
    let a = s.table("a").unwrap();
    assert!(a.autoincrement);
    assert_eq!(a.sqlite_sequence, Some(2));
    assert_eq!(a.columns[1].default.as_deref(), Some("'autoincrement'"));
    let b = s.table("b").unwrap();
    assert!(!b.autoincrement && b.strict && b.sqlite_sequence.is_none());
    let c = s.table("c").unwrap();
    assert!(c.strict);
    assert_eq!(c.row_key, RowKey::WithoutRowid);
}
