//! Issue 17, defect 10: the smaller failures a new user met. Table patterns
//! (spaces after commas, ASCII case, a pattern that matches nothing), the
//! type of an untyped column holding only integers, a `COLLATE NOCASE`
//! unique key, a misfit naming its column once, `inspect --suggest-mapping`
//! not taking the database for its output file, and summary names cut with
//! a mark.

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::server;
use crate::util::sqlite::db_from_sql;

fn tables_in(db: &crate::util::pg::TestDb) -> Vec<String> {
    db.query_strings(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

const THREE: &str = "CREATE TABLE alpha (id INTEGER PRIMARY KEY); INSERT INTO alpha VALUES (1);
     CREATE TABLE beta (id INTEGER PRIMARY KEY); INSERT INTO beta VALUES (1);
     CREATE TABLE Gamma (id INTEGER PRIMARY KEY); INSERT INTO Gamma VALUES (1);";

#[test]
fn table_patterns_ignore_spaces_after_commas_and_ascii_case() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "three.db", THREE);
    let db = server().fresh_db("smaller_patterns");
    // `'alpha, GAMMA'`: the space is not part of a name, and SQLite's names
    // ignore ASCII case, so both tables are chosen.
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--tables", "alpha, GAMMA"]);
    assert_code(&out, 0);
    assert_eq!(tables_in(&db), ["Gamma", "alpha"], "{out}");
    let db2 = server().fresh_db("smaller_patterns_exclude");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db2.url, "--exclude", " ALPHA ,gam*"]);
    assert_code(&out, 0);
    assert_eq!(tables_in(&db2), ["beta"], "{out}");
}

#[test]
fn a_table_pattern_that_matches_nothing_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "three.db", THREE);
    let db = server().fresh_db("smaller_unmatched");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--tables", "alpha,betta"]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("\"betta\"") && out.stderr.contains("matches no table"), "{out}");
    assert!(tables_in(&db).is_empty(), "nothing is created: {:?}", tables_in(&db));
    let out = ferry(&["plan", src.to_str().unwrap(), "--exclude", "nope*"]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("--exclude pattern \"nope*\""), "{out}");
}

#[test]
fn an_untyped_column_of_integers_becomes_bigint() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "untyped.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n, r, b BLOB);
         INSERT INTO t VALUES (1, 5, 1.5, 7), (2, -9000000000, 2, NULL);",
    );
    let db = server().fresh_db("smaller_untyped");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    let types = db.query_strings(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = 't' ORDER BY ordinal_position",
    );
    let ty = |c: &str| types.iter().find(|r| r[0].as_deref() == Some(c)).and_then(|r| r[1].clone()).unwrap();
    assert_eq!(ty("n"), "bigint", "only integers: the narrowest type is bigint\n{out}");
    assert_eq!(ty("r"), "double precision", "integers and reals\n{out}");
    assert_eq!(ty("b"), "bigint", "a BLOB column holding only integers\n{out}");
    assert_eq!(db.query_scalar_i64("SELECT sum(n)::bigint FROM t"), -8999999995);
}

#[test]
fn a_nocase_unique_key_is_noted_in_plan_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "nocase.db",
        "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT COLLATE NOCASE UNIQUE, name TEXT UNIQUE);
         INSERT INTO u VALUES (1, 'a@x', 'A'), (2, 'b@x', 'a');",
    );
    let out = ferry(&["plan", src.to_str().unwrap()]);
    assert_code(&out, 0);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("email COLLATE NOCASE"), "plan names the NOCASE key:\n{out}");
    assert!(!all.contains("name COLLATE"), "a BINARY key is not noted:\n{out}");
    let db = server().fresh_db("smaller_nocase");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("email COLLATE NOCASE"), "migrate names the NOCASE key:\n{out}");
    // The note is true: PostgreSQL takes a case variant SQLite would refuse.
    db.query_strings("INSERT INTO u (email, name) VALUES ('A@X', 'z')");
}

#[test]
fn a_misfit_names_its_column_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "mis.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER); INSERT INTO t VALUES (1, 1700000000);",
    );
    let map = dir.path().join("m.toml");
    // `no` for true meets the default `no` for false only once the target
    // column turns out to be boolean: a misfit, found by `retarget`.
    std::fs::write(&map, "[tables.t.columns]\nc = { boolean_true = [\"no\"] }\n").unwrap();
    let db = server().fresh_db("smaller_misfit_once");
    db.query_strings("CREATE TABLE t (id bigint PRIMARY KEY, c boolean)");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--schema", "existing", "--mapping", map.to_str().unwrap()]);
    assert_code(&out, 2);
    let line = out.stderr.lines().find(|l| l.contains("mapping rule at")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(line.matches("column \"c\"").count(), 1, "the column is named once: {line}");
}

#[test]
fn suggest_mapping_never_takes_the_database_for_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "app.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, x); INSERT INTO t VALUES (1, 2);");
    let before = std::fs::read(&src).unwrap();
    // The flag before the file: the suggestion goes to stdout, the database is read.
    let out = ferry(&["inspect", "--suggest-mapping", src.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("[tables"), "the mapping is on stdout:\n{out}");
    assert_eq!(std::fs::read(&src).unwrap(), before, "the database is not overwritten");
    // The output file is given with `=`.
    let file = dir.path().join("s.toml");
    let out = ferry(&["inspect", src.to_str().unwrap(), &format!("--suggest-mapping={}", file.display())]);
    assert_code(&out, 0);
    assert!(std::fs::read_to_string(&file).unwrap().contains("[tables"));
}

#[test]
fn summary_marks_a_cut_table_name() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("t{}", "x".repeat(50));
    let src = db_from_sql(
        dir.path(),
        "long.db",
        &format!("CREATE TABLE {long} (id INTEGER PRIMARY KEY); INSERT INTO {long} VALUES (1);"),
    );
    let db = server().fresh_db("smaller_long_name");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    let row = out.stderr.lines().find(|l| l.starts_with("txxx")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.starts_with(&format!("t{}…", "x".repeat(38))), "cut at 40 with a mark: {row}");
}
