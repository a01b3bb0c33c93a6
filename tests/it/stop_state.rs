//! What a stop leaves, as fields (issue 14, point 2): the keys set aside
//! and put back, each with how it came back (`keys_restored`), and the
//! tables whose sequences moved (`sequences_moved`), in `--json`, on
//! stderr and on the `--report-html` page, which a stopped `migrate`
//! writes once, with the Failed verdict and the state of the target
//! (`commands::stop::fail`; nothing overwrites it). An interrupt during the
//! keys phase still moves every committed table's sequence, and says so.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report_html::open_in_browser;
use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

/// `p` (50,000 rows, a bad boolean in its last) and `c` (10 rows pointing
/// at `p`): `c` commits while `p` stops at its last row.
fn source(dir: &Path) -> std::path::PathBuf {
    db_from_sql(
        dir,
        "pc.db",
        "CREATE TABLE p (id INTEGER PRIMARY KEY, ok BOOLEAN);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
         INSERT INTO p SELECT i, i % 2 FROM n;
         UPDATE p SET ok = 'maybe' WHERE id = 50000;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
         INSERT INTO c SELECT i, 1 + (i * 7) % 50000 FROM n;",
    )
}

const TARGET: &str = "CREATE TABLE p (id SERIAL PRIMARY KEY, ok BOOLEAN);
     CREATE TABLE c (id SERIAL PRIMARY KEY, p_id INTEGER REFERENCES p(id));
     CREATE INDEX c_p_id_ix ON c (p_id);";

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

fn key<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["keys_restored"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name} in keys_restored: {doc:#}"))
}

fn migrate(src: &Path, db: &TestDb, st: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "migrate",
        src.to_str().unwrap(),
        db.url.as_str(),
        "--state-dir",
        st,
        "--json",
    ];
    args.extend_from_slice(extra);
    ferry(&args)
}

#[test]
fn an_existing_schema_stop_reports_keys_and_sequences_as_fields_and_on_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let db = server().fresh_db("stop_state_existing");
    db.client().batch_execute(TARGET).unwrap();
    let st = dir.path().join("state").to_str().unwrap().to_string();
    let page = dir.path().join("stopped.html");

    let out = migrate(&src, &db, &st, &["--report-html", page.to_str().unwrap()]);
    assert_code(&out, 2);
    let doc = json(&out);
    let stopped = &doc["stopped"];
    assert_eq!(stopped["unchanged"], false, "{doc:#}");
    assert_eq!(
        stopped["committed"],
        serde_json::json!([{"table": "c", "target": "c", "rows": 10}]),
        "{doc:#}"
    );
    assert_eq!(stopped["not_loaded"], serde_json::json!(["p"]), "{doc:#}");
    assert_eq!(stopped["sequences"], serde_json::json!(["c"]), "{doc:#}");
    assert_eq!(doc["sequences_moved"], serde_json::json!(["c"]), "{doc:#}");
    assert!(
        stopped["next"].as_str().unwrap().contains("--resume`"),
        "{doc:#}"
    );
    let fk = key(&doc, "c_p_id_fkey");
    assert_eq!(
        (
            fk["table"].as_str(),
            fk["kind"].as_str(),
            fk["state"].as_str()
        ),
        (Some("c"), Some("foreign_key"), Some("not_valid"))
    );
    let ix = key(&doc, "c_p_id_ix");
    assert_eq!(
        (ix["kind"].as_str(), ix["state"].as_str()),
        (Some("index"), Some("rebuilt"))
    );
    // The fields say what the catalog says.
    assert_eq!(
        db.query_strings(
            "SELECT convalidated::text FROM pg_constraint WHERE conname = 'c_p_id_fkey'"
        ),
        vec![vec![Some("false".into())]]
    );
    assert_eq!(db.query_scalar_i64("SELECT nextval('c_id_seq')"), 11);
    for needle in [
        "State of the target",
        "\"c\" (10 rows)",
        "sequences moved past the rows of: \"c\"",
        "--resume`",
        "--truncate",
    ] {
        assert!(
            out.stderr.contains(needle),
            "stderr lacks {needle:?}\n{out}"
        );
    }

    // One page, stop's own: the Failed verdict and the state of the target.
    let dom = open_in_browser(
        &page,
        "migrate-stopped",
        &["verdict", "state", "decisions", "problems"],
    );
    for needle in [
        "stopped without finishing",
        "Exit code <b>2</b>",
        "maybe",
        "c (10 rows)",
        "--resume",
        "foreign key c.c_p_id_fkey set aside for the load and restored: NOT VALID",
        "index c.c_p_id_ix set aside for the load and restored: rebuilt",
        "sequences moved past the rows of: c",
    ] {
        assert!(dom.contains(needle), "the page lacks {needle:?}:\n{dom}");
    }

    // Fixed and resumed: the key comes back validated, every sequence moves.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("UPDATE p SET ok = 1 WHERE ok = 'maybe'", [])
        .unwrap();
    drop(conn);
    let out = migrate(&src, &db, &st, &["--resume"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(key(&doc, "c_p_id_fkey")["state"], "validated", "{doc:#}");
    assert_eq!(key(&doc, "c_p_id_ix")["state"], "rebuilt", "{doc:#}");
    let mut moved: Vec<&str> = doc["sequences_moved"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    moved.sort();
    assert_eq!(moved, ["c", "p"], "{doc:#}");
    assert!(doc.get("stopped").is_none(), "{doc:#}");
    assert!(
        out.stderr.contains(
            "keys: 2 set aside and restored (1 foreign key(s) validated, 1 index(es) rebuilt)"
        ),
        "{out}"
    );
    assert_eq!(db.query_scalar_i64("SELECT nextval('p_id_seq')"), 50001);
}

/// A small table and a big one with indexes, so the keys phase lasts.
fn keys_source(dir: &Path) -> std::path::PathBuf {
    db_from_sql(
        dir,
        "keys.db",
        "CREATE TABLE small (id INTEGER PRIMARY KEY, t TEXT);
         INSERT INTO small VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e');
         CREATE TABLE big (id INTEGER PRIMARY KEY, a TEXT, b TEXT, n INTEGER);
         CREATE INDEX big_a ON big (a); CREATE INDEX big_b ON big (b); CREATE INDEX big_n ON big (n, a);
         WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1500000)
         INSERT INTO big SELECT i, printf('%08x-some text to index', (i * 2654435761) % 4294967296), printf('b %d %d', i % 977, i), i % 1000 FROM r;",
    )
}

#[test]
fn an_interrupt_during_the_keys_moves_every_sequence_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let src = keys_source(dir.path());
    let db = server().fresh_db("stop_state_keys_interrupt");
    let st = dir.path().join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "migrate",
            src.to_str().unwrap(),
            &db.url,
            "--state-dir",
            st.to_str().unwrap(),
            "-q",
        ])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // Wait for an index build on big, then Ctrl-C.
    let mut admin = postgres::Client::connect(&server().admin_url(), postgres::NoTls).unwrap();
    let t0 = Instant::now();
    loop {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query ILIKE 'CREATE INDEX%'",
                &[&db.name],
            )
            .unwrap()
            .get(0);
        if n > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "ferry ended before the keys phase"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "no CREATE INDEX ran"
        );
        std::thread::sleep(Duration::from_millis(3));
    }
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    for needle in ["interrupted", "State of the target", "--resume`"] {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}\n{stderr}");
    }
    let moved = stderr
        .lines()
        .find(|l| l.contains("sequences moved past the rows of:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        moved.contains("\"small\"") && moved.contains("\"big\""),
        "{stderr}"
    );
    assert_eq!(
        db.query_scalar_i64("SELECT nextval(pg_get_serial_sequence('small', 'id'))"),
        6,
        "{stderr}"
    );
    assert_eq!(
        db.query_scalar_i64("SELECT nextval(pg_get_serial_sequence('big', 'id'))"),
        1_500_001,
        "{stderr}"
    );
}

/// `plan` and `migrate` agree on `--exclude` of a parent that child rows
/// point at, in each mode: into an existing schema (keys set aside or kept)
/// both refuse by name and nothing is written; in create mode both go on
/// (the foreign key onto a table not created is not made, and both say so),
/// and never "a bug in ferry".
#[test]
fn plan_and_migrate_agree_on_an_excluded_parent_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "pc.db",
        "CREATE TABLE p (id INTEGER PRIMARY KEY, ok BOOLEAN);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id));
         INSERT INTO p VALUES (1, 1), (2, 0);
         INSERT INTO c VALUES (1, 1), (2, 2), (3, 2);",
    );
    let s = src.to_str().unwrap();
    for (name, extra) in [("set_aside", &[][..]), ("kept", &["--keep-keys"][..])] {
        let db = server().fresh_db(&format!("stop_state_exclude_{name}"));
        db.client().batch_execute(TARGET).unwrap();
        let mut args = vec!["plan", s, db.url.as_str(), "--exclude", "p"];
        args.extend_from_slice(extra);
        let plan = ferry(&args);
        assert_code(&plan, 1);
        assert!(
            plan.stdout.contains("\"p\"") && plan.stdout.contains("not loaded"),
            "{plan}"
        );
        let st = dir.path().join(name);
        let mut args = vec![
            "migrate",
            s,
            db.url.as_str(),
            "--exclude",
            "p",
            "--state-dir",
            st.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let page = dir.path().join(format!("{name}.html"));
        args.extend_from_slice(&["--report-html", page.to_str().unwrap()]);
        let out = ferry(&args);
        assert_code(&out, 2);
        // The refusal's page: the stop's, saying the target is unchanged.
        let dom = open_in_browser(
            &page,
            &format!("migrate-refusal-{name}"),
            &["verdict", "state"],
        );
        for needle in [
            "stopped without finishing",
            "Unchanged: this run wrote nothing to the target.",
            "nothing was written to the target; fix the cause and run the same command again",
        ] {
            assert!(dom.contains(needle), "the page lacks {needle:?}:\n{dom}");
        }
        assert!(
            out.stderr.contains("\"p\"") && out.stderr.contains("not loaded"),
            "{out}"
        );
        assert!(
            out.stderr.contains("nothing was written") && !out.stderr.contains("a bug in ferry"),
            "{out}"
        );
        assert_eq!(db.query_scalar_i64("SELECT count(*) FROM c"), 0, "{out}");
        assert_eq!(
            db.query_scalar_i64(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"
            ),
            1,
            "the foreign key is untouched\n{out}"
        );
    }

    let db = server().fresh_db("stop_state_exclude_create");
    let plan = ferry(&["plan", s, &db.url, "--exclude", "p"]);
    let st = dir.path().join("create");
    let out = ferry(&[
        "migrate",
        s,
        &db.url,
        "--exclude",
        "p",
        "--state-dir",
        st.to_str().unwrap(),
    ]);
    assert!(!out.stderr.contains("a bug in ferry"), "{out}");
    assert_eq!(
        plan.code == 0,
        out.code == 0,
        "plan and migrate disagree:\n{plan}\n{out}"
    );
    assert_code(&out, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM c"), 3);
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"),
        0,
        "{out}"
    );
    for o in [&plan, &out] {
        let said = format!("{}{}", o.stdout, o.stderr);
        assert!(
            said.contains("\"p\""),
            "the foreign key onto the excluded table is mentioned:\n{o}"
        );
    }
}
