//! Failure paths keep the README's promises (issue 17, defects 1 to 9):
//! after a failed or interrupted run and `--resume` the target's catalog is
//! the one an uninterrupted run makes; a refused run leaves the journals as
//! they were; `plan` refuses whatever `migrate` would; ferry's own SQL names
//! never meet a user's; every phase stops at Ctrl-C/SIGTERM with exit 130;
//! sequences honour `sqlite_sequence` in an existing schema; `--json` and
//! `--report` are written by failing runs; numeric flags refuse 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::case::{Case, migrate_in};
use crate::util::cmd::{self, Output, Running, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

fn state_dir(dir: &Path) -> String {
    dir.join("state").to_str().unwrap().to_string()
}

/// Constraints (with `convalidated`), indexes and sequences (with their
/// last value) of schema `public`: what a resumed run must leave exactly as
/// an uninterrupted one does.
fn catalog(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.query_strings(
        "SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' validated=' || convalidated \
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL SELECT 'sequence ' || sequencename || ' last=' || coalesce(last_value::text, 'none') FROM pg_sequences WHERE schemaname = 'public' \
         ORDER BY 1",
    )
}

fn not_valid(db: &TestDb) -> i64 {
    db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND NOT convalidated")
}

/// `ferry ARGS` started in the background (`util::cmd::spawn`).
fn spawn(args: &[&str]) -> Running {
    cmd::spawn(args, &[])
}

/// Wait until the server runs a statement of `db` matching `pattern`
/// (SQL `ILIKE`) for ferry, while `run` is alive.
fn wait_for_statement(db: &TestDb, pattern: &str, run: &mut Running) {
    let admin = server();
    let mut client = postgres::Client::connect(&admin.admin_url(), postgres::NoTls).unwrap();
    let t0 = Instant::now();
    loop {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query ILIKE $2",
                &[&db.name, &pattern],
            )
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        assert!(
            run.running(),
            "ferry ended before running {pattern}; make the data bigger"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "{pattern} never ran"
        );
        std::thread::sleep(Duration::from_millis(3));
    }
}


fn run_journal(state: &Path) -> Option<String> {
    cmd::journals(state).first().map(|p| std::fs::read_to_string(p).unwrap())
}

fn validate_report(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/report.schema.json: {errors:#?}\n{doc:#}"
    );
}

// ---------------------------------------------------------------- defect 1, 2

const PC_TARGET: &str = "CREATE TABLE p (id SERIAL PRIMARY KEY, ok BOOLEAN);
     CREATE TABLE c (id SERIAL PRIMARY KEY, p_id INTEGER REFERENCES p(id));
     CREATE INDEX c_p_id_ix ON c (p_id);";

/// The reproduction: `p` with a bad boolean in its last row, `c`
/// (10 rows) pointing at `p`.
fn pc_sql(rows: u32) -> String {
    format!(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, ok BOOLEAN);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO p SELECT i, i % 2 FROM n;
         UPDATE p SET ok = 'maybe' WHERE id = {rows};
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
         INSERT INTO c SELECT i, 1 + (i * 7) % {rows} FROM n;"
    )
}

/// [`pc_sql`] as `dir/pc.db`.
fn pc_source(dir: &Path, rows: u32) -> PathBuf {
    db_from_sql(dir, "pc.db", &pc_sql(rows))
}

/// The catalog an uninterrupted run leaves, from a fixed copy of `src`.
fn uninterrupted_catalog(
    name: &str,
    target_sql: &str,
    src: &Path,
    extra: &[&str],
) -> Vec<Vec<Option<String>>> {
    let dir = tempfile::tempdir().unwrap();
    let db = server().fresh_db(name);
    db.query_strings(target_sql);
    let out = migrate_in(src, &db, state_dir(dir.path()), &[&["-q"], extra].concat());
    assert_code(&out, 0);
    catalog(&db)
}

#[test]
fn resumed_existing_load_validates_every_key_and_refused_reruns_keep_the_journal() {
    let Case { dir, src, db } = Case::new("fp_pc_resume", &pc_sql(50_000)).with_target(PC_TARGET);
    let st = state_dir(dir.path());

    let first = migrate_in(&src, &db, &st, &[]);
    assert_code(&first, 2);
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM c"),
        10,
        "c committed"
    );
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM p"),
        0,
        "p rolled back"
    );
    // Defect 2: the stop says what it left and the exact command that finishes.
    assert!(first.stderr.contains("--resume"), "{first}");
    assert!(
        first
            .stderr
            .contains(&format!("ferry migrate {} ", src.display())),
        "{first}"
    );
    assert!(
        first.stderr.contains("committed") && first.stderr.contains("\"c\""),
        "{first}"
    );
    assert!(!first.stderr.contains("a bug in ferry"), "{first}");
    let journal = run_journal(Path::new(&st)).expect("a run journal");

    // Refused reruns (without --resume, and with another --exclude) leave
    // the journal as it was.
    let again = migrate_in(&src, &db, &st, &[]);
    assert_code(&again, 2);
    assert!(
        again.stderr.contains("already hold") && again.stderr.contains("--resume"),
        "{again}"
    );
    // The refusal gives the exact command that continues the earlier run.
    assert!(
        again.stderr.contains(&format!("`ferry migrate {} ", src.display())) && again.stderr.contains("--resume` continues it"),
        "{again}"
    );
    assert_eq!(
        run_journal(Path::new(&st)).as_deref(),
        Some(journal.as_str()),
        "a refused run must not touch the journal"
    );
    let other = migrate_in(&src, &db, &st, &["--exclude", "nothing_like_this"]);
    assert_code(&other, 2);
    assert_eq!(
        run_journal(Path::new(&st)).as_deref(),
        Some(journal.as_str()),
        "a refused run must not touch the journal"
    );

    // Fix the row, resume: every constraint validated, catalog as an
    // uninterrupted run leaves it.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("UPDATE p SET ok = 1 WHERE ok = 'maybe'", [])
        .unwrap();
    drop(conn);
    let out = migrate_in(&src, &db, &st, &["--resume"]);
    assert_code(&out, 0);
    assert_eq!(
        not_valid(&db),
        0,
        "every constraint validated after --resume: {:?}",
        catalog(&db)
    );
    assert_eq!(
        catalog(&db),
        uninterrupted_catalog("fp_pc_reference", PC_TARGET, &src, &[])
    );
}

/// A bigger existing schema: a child bigger than its parent (so it commits
/// first), an index, serial keys.
const BIG_TARGET: &str = "CREATE TABLE parent (id SERIAL PRIMARY KEY, name TEXT NOT NULL);
     CREATE TABLE child (id SERIAL PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id), note TEXT);
     CREATE INDEX child_note_ix ON child (note);";

const BIG_SOURCE: &str = "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id), note TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
         INSERT INTO parent SELECT i, printf('parent number %d with a longer name to read and convert', i) FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)
         INSERT INTO child SELECT i, 1 + i % 400000, printf('note %d', i % 5000) FROM n;";

#[test]
fn sigint_mid_existing_load_then_resume_leaves_the_catalog_of_an_uninterrupted_run() {
    let Case { dir, src, db } = Case::new("fp_big_sigint", BIG_SOURCE).with_target(BIG_TARGET);
    let st = state_dir(dir.path());
    let mut run = spawn(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--state-dir",
        &st,
        "-q",
        "-j",
        "1",
        "--writers",
        "1",
    ]);
    cmd::wait_committed(Path::new(&st), "child", &mut run.child, Duration::from_secs(180));
    std::thread::sleep(Duration::from_millis(50));
    let (out, _) = run.signal_and_wait("INT");
    assert_code(&out, 130);
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM parent"),
        0,
        "{out}"
    );
    assert!(out.stderr.contains("--resume"), "{out}");
    let out = migrate_in(&src, &db, &st, &["--resume", "-q"]);
    assert_code(&out, 0);
    assert_eq!(not_valid(&db), 0, "{:?}", catalog(&db));
    assert_eq!(
        catalog(&db),
        uninterrupted_catalog("fp_big_reference", BIG_TARGET, &src, &[])
    );
}

// ---------------------------------------------------------------- defect 3

#[test]
fn plan_finds_duplicates_the_conversion_creates_and_names_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "dups.db",
        "CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME UNIQUE);
         INSERT INTO ev VALUES (1, '2024-01-01 00:00:00'), (2, '2024-01-01T00:00:00'), (3, '2024-01-02 00:00:00');
         CREATE TABLE u (id INTEGER PRIMARY KEY, k UNIQUE);
         INSERT INTO u VALUES (10, 1), (11, '1'), (12, 'x');",
    );
    let out = ferry(&["plan", src.to_str().unwrap(), "--json"]);
    assert_code(&out, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let dups: Vec<&serde_json::Value> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "duplicate_key")
        .collect();
    let ev = dups
        .iter()
        .find(|p| p["table"] == "ev")
        .unwrap_or_else(|| panic!("no duplicate found in ev: {out}"));
    let u = dups
        .iter()
        .find(|p| p["table"] == "u")
        .unwrap_or_else(|| panic!("no duplicate found in u: {out}"));
    let text = |p: &serde_json::Value| p["samples"].to_string();
    for key in ["id=1", "id=2"] {
        assert!(text(ev).contains(key), "{ev}");
    }
    assert!(!text(ev).contains("id=3"), "{ev}");
    for key in ["id=10", "id=11"] {
        assert!(text(u).contains(key), "{u}");
    }
    // migrate agrees: it stops (exit 2), it does not succeed.
    let db = server().fresh_db("fp_dups");
    let out = migrate_in(&src, &db, state_dir(dir.path()), &[]);
    assert_code(&out, 2);
}

// ---------------------------------------------------------------- defect 4

#[test]
fn plan_refuses_what_migrate_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let src = pc_source(dir.path(), 20);
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("UPDATE p SET ok = 1 WHERE ok = 'maybe'", [])
        .unwrap();
    drop(conn);
    let st = state_dir(dir.path());

    // Target tables that already hold rows.
    let db = server().fresh_db("fp_plan_rows");
    db.query_strings(PC_TARGET);
    db.query_strings("INSERT INTO p (ok) VALUES (true)");
    let plan = ferry(&["plan", src.to_str().unwrap(), &db.url]);
    assert_code(&plan, 1);
    assert!(
        plan.stdout.contains("\"p\"") && plan.stdout.contains("holds rows"),
        "{plan}"
    );
    assert!(plan.stdout.contains("would NOT succeed"), "{plan}");
    let migrate = migrate_in(&src, &db, &st, &[]);
    assert_code(&migrate, 2);
    // With --truncate both agree the run succeeds.
    let plan = ferry(&["plan", src.to_str().unwrap(), &db.url, "--truncate"]);
    assert_code(&plan, 0);

    // --exclude of a parent that child rows point at: a named refusal in
    // both, before anything is written.
    let db = server().fresh_db("fp_plan_exclude");
    db.query_strings(PC_TARGET);
    let before = catalog(&db);
    let plan = ferry(&["plan", src.to_str().unwrap(), &db.url, "--exclude", "p"]);
    assert_code(&plan, 1);
    assert!(
        plan.stdout.contains("\"p\"") && plan.stdout.contains("not loaded"),
        "{plan}"
    );
    let migrate = migrate_in(&src, &db, &st, &["--exclude", "p"]);
    assert_code(&migrate, 2);
    assert!(
        migrate.stderr.contains("\"p\"") && migrate.stderr.contains("not loaded"),
        "{migrate}"
    );
    assert!(!migrate.stderr.contains("a bug in ferry"), "{migrate}");
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM c"),
        0,
        "nothing written"
    );
    assert_eq!(catalog(&db), before, "keys untouched");

    // --schema create into tables that exist.
    let plan = ferry(&["plan", src.to_str().unwrap(), &db.url, "--schema", "create"]);
    assert_code(&plan, 1);
    let migrate = migrate_in(&src, &db, &st, &["--schema", "create"]);
    assert_code(&migrate, 2);
}

// ---------------------------------------------------------------- defect 5

/// User tables named after every name ferry gives its own SQL objects
/// (the recursive query's CTE and aliases, the plan's aliases).
const OWN_NAMES_SQLITE: &str = "
    CREATE TABLE tree (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES tree(id), k INTEGER, depth INTEGER, d INTEGER);
    CREATE TABLE ferry_tree (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES ferry_tree(id));
    CREATE TABLE x (id INTEGER PRIMARY KEY, tree_id INTEGER REFERENCES tree(id));
    CREATE TABLE s (id INTEGER PRIMARY KEY, x_id INTEGER REFERENCES x(id));
    CREATE TABLE o (id INTEGER PRIMARY KEY, up INTEGER REFERENCES o(id));
    CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id));
    CREATE TABLE p (id INTEGER PRIMARY KEY, c_id INTEGER);
    INSERT INTO tree VALUES (1, NULL, 1, 1, 1), (2, 1, 2, 2, 2), (3, 2, 3, 3, 3), (4, 1, 4, 4, 4);
    INSERT INTO ferry_tree VALUES (1, NULL), (2, 1), (3, 2);
    INSERT INTO x VALUES (1, 3);
    INSERT INTO s VALUES (1, 1);
    INSERT INTO o VALUES (5, NULL), (6, 5), (7, 6);
    INSERT INTO p VALUES (1, 1);
    INSERT INTO c VALUES (1, 1);";

const OWN_NAMES_PG: &str = "
    CREATE TABLE tree (id SERIAL PRIMARY KEY, parent_id INTEGER REFERENCES tree(id), k INTEGER, depth INTEGER, d INTEGER);
    CREATE TABLE ferry_tree (id SERIAL PRIMARY KEY, parent_id INTEGER REFERENCES ferry_tree(id));
    CREATE TABLE x (id SERIAL PRIMARY KEY, tree_id INTEGER REFERENCES tree(id));
    CREATE TABLE s (id SERIAL PRIMARY KEY, x_id INTEGER REFERENCES x(id));
    CREATE TABLE o (id SERIAL PRIMARY KEY, up INTEGER REFERENCES o(id));
    CREATE TABLE p (id SERIAL PRIMARY KEY, c_id INTEGER);
    CREATE TABLE c (id SERIAL PRIMARY KEY, p_id INTEGER REFERENCES p(id));";

#[test]
fn tables_named_after_ferrys_own_sql_names_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "own.db", OWN_NAMES_SQLITE);
    for (name, extra) in [
        ("fp_own_keep", vec!["--keep-keys"]),
        ("fp_own_aside", vec![]),
    ] {
        let db = server().fresh_db(name);
        db.query_strings(OWN_NAMES_PG);
        let out = migrate_in(&src, &db, state_dir(&dir.path().join(name)), &extra);
        assert_code(&out, 0);
        assert_eq!(db.query_scalar_i64("SELECT count(*) FROM tree"), 4);
        assert_eq!(not_valid(&db), 0);
        let plan = ferry(&["plan", src.to_str().unwrap(), &db.url, "--truncate"]);
        assert_code(&plan, 0);
    }
    let db = server().fresh_db("fp_own_create");
    let out = migrate_in(&src, &db, state_dir(&dir.path().join("create")), &[]);
    assert_code(&out, 0);
    let db = server().fresh_db("fp_own_calibrate");
    // A schema named like a calibration schema is never dropped by a plan.
    db.query_strings("CREATE SCHEMA ferry_calibrate; CREATE TABLE ferry_calibrate.keep (i int); INSERT INTO ferry_calibrate.keep VALUES (1);");
    let plan = ferry(&["plan", src.to_str().unwrap(), &db.url, "--calibrate"]);
    assert_code(&plan, 0);
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM ferry_calibrate.keep"),
        1
    );
    assert_eq!(
        db.query_scalar_i64(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ferry_calibrate%'"
        ),
        1
    );
}

// ---------------------------------------------------------------- defect 6

/// Two tables with enough rows and indexes that keys and verification take
/// a while on a loaded machine.
const SLOW_SOURCE: &str = "CREATE TABLE big (id INTEGER PRIMARY KEY, a TEXT, b TEXT, n INTEGER);
         CREATE INDEX big_a ON big (a); CREATE INDEX big_b ON big (b); CREATE INDEX big_n ON big (n, a);
         WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1500000)
         INSERT INTO big SELECT i, printf('%08x-some text to index', (i * 2654435761) % 4294967296), printf('b %d %d', i % 977, i), i % 1000 FROM r;";

/// [`SLOW_SOURCE`] as `dir/slow.db`.
fn slow_source(dir: &Path) -> PathBuf {
    db_from_sql(dir, "slow.db", SLOW_SOURCE)
}

fn assert_interrupted(out: &Output, took: Duration, command: &str) {
    assert_code(out, 130);
    assert!(
        took < Duration::from_secs(15),
        "stopped promptly: took {took:?}\n{out}"
    );
    assert!(
        out.stderr.contains(&format!("ferry {command}")) && out.stderr.contains("interrupted"),
        "{out}"
    );
}

#[test]
fn interrupt_during_keys_and_verification_of_migrate_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let src = slow_source(dir.path());
    for (phase, pattern, signal) in [
        ("keys", "CREATE INDEX%", "INT"),
        ("verify", "COPY (SELECT%TO STDOUT%", "TERM"),
    ] {
        let db = server().fresh_db(&format!("fp_int_{phase}"));
        let st = state_dir(&dir.path().join(phase));
        let mut run = spawn(&[
            "migrate",
            src.to_str().unwrap(),
            &db.url,
            "--state-dir",
            &st,
            "-q",
        ]);
        wait_for_statement(&db, pattern, &mut run);
        let (out, took) = run.signal_and_wait(signal);
        assert_interrupted(&out, took, "migrate");
        assert!(out.stderr.contains("--resume"), "{out}");
        let resumed = migrate_in(&src, &db, &st, &["--resume", "-q"]);
        assert_code(&resumed, 0);
        assert_eq!(
            db.query_scalar_i64("SELECT count(*) FROM pg_indexes WHERE tablename = 'big'"),
            4,
            "{phase}"
        );
    }
}

#[test]
fn interrupt_during_verify_and_plan_exits_130_naming_the_command() {
    let Case { dir, src, db } = Case::new("fp_int_verify_cmd", SLOW_SOURCE);
    let out = migrate_in(&src, &db, state_dir(dir.path()), &["-q"]);
    assert_code(&out, 0);

    let mut run = spawn(&["verify", src.to_str().unwrap(), &db.url, "-q", "--json"]);
    wait_for_statement(&db, "COPY (SELECT%TO STDOUT%", &mut run);
    let (out, took) = run.signal_and_wait("INT");
    assert_interrupted(&out, took, "verify");
    assert!(
        !out.stderr.contains("--resume"),
        "verify is not resumed: {out}"
    );
    // Its --json document is written all the same.
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    validate_report(&doc);
    assert_eq!(doc["exit_code"], 130);

    // plan (no target): interrupted while it converts every value.
    let mut run = spawn(&["plan", src.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(run.running(), "plan ended too early; make the data bigger");
    let (out, took) = run.signal_and_wait("INT");
    assert_interrupted(&out, took, "plan");
    assert!(!out.stderr.contains("--resume"), "{out}");

    // plan --calibrate: interrupted while it loads the sample; the scratch
    // schema is dropped.
    let empty = server().fresh_db("fp_int_calibrate");
    let mut run = spawn(&[
        "plan",
        src.to_str().unwrap(),
        &empty.url,
        "--calibrate",
        "--calibrate-rows",
        "1500000",
    ]);
    wait_for_statement(&empty, "COPY%FROM STDIN%", &mut run);
    let (out, took) = run.signal_and_wait("TERM");
    assert_interrupted(&out, took, "plan");
    assert_eq!(
        empty.query_scalar_i64(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ferry_calibrate%'"
        ),
        0,
        "{out}"
    );
}

// ---------------------------------------------------------------- defect 7

#[test]
fn existing_schema_sequences_follow_sqlite_sequence_and_move_after_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "seq.db",
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT);
         INSERT INTO a (t) VALUES ('1'), ('2'), ('3'), ('4'), ('5');
         DELETE FROM a WHERE id > 3;",
    );
    let db = server().fresh_db("fp_seq_existing");
    db.query_strings("CREATE TABLE a (id SERIAL PRIMARY KEY, t TEXT)");
    let out = migrate_in(&src, &db, state_dir(dir.path()), &[]);
    assert_code(&out, 0);
    assert_eq!(
        db.query_scalar_i64("SELECT nextval('a_id_seq')"),
        6,
        "as in create mode"
    );

    // A stop at a bad value in a later table: the committed table's
    // sequence is past its rows.
    std::fs::create_dir_all(dir.path().join("stop")).unwrap();
    let src = pc_source(&dir.path().join("stop"), 50_000);
    let db = server().fresh_db("fp_seq_stop");
    db.query_strings(PC_TARGET);
    let out = migrate_in(&src, &db, state_dir(&dir.path().join("stop")), &[]);
    assert_code(&out, 2);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM c"), 10);
    assert_eq!(
        db.query_scalar_i64("SELECT nextval('c_id_seq')"),
        11,
        "{out}"
    );
    assert!(
        out.stderr.contains("sequence"),
        "the stop says sequences were moved: {out}"
    );
}

// ---------------------------------------------------------------- defect 8

#[test]
fn failing_and_interrupted_runs_still_write_their_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("stop")).unwrap();
    let src = pc_source(&dir.path().join("stop"), 50_000);
    let db = server().fresh_db("fp_report_exit2");
    db.query_strings(PC_TARGET);
    let report = dir.path().join("report.json");
    let out = migrate_in(
        &src,
        &db,
        state_dir(dir.path()),
        &["--json", "--report", report.to_str().unwrap()],
    );
    assert_code(&out, 2);
    let stdout: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(stdout, file);
    validate_report(&file);
    assert_eq!(file["exit_code"], 2);
    assert!(
        file["error"].as_str().unwrap().contains("maybe"),
        "{file:#}"
    );
    let committed = file["stopped"]["committed"].to_string();
    assert!(
        committed.contains("\"c\"") && !committed.contains("\"p\""),
        "{file:#}"
    );
    assert!(
        file["stopped"]["not_loaded"].to_string().contains("\"p\""),
        "{file:#}"
    );

    // Interrupted (exit 130): the document too.
    let dir2 = tempfile::tempdir().unwrap();
    let src = slow_source(dir2.path());
    let db = server().fresh_db("fp_report_exit130");
    let report = dir2.path().join("report.json");
    let st = state_dir(dir2.path());
    let mut run = spawn(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--state-dir",
        &st,
        "--json",
        "--report",
        report.to_str().unwrap(),
    ]);
    wait_for_statement(&db, "COPY%FROM STDIN%", &mut run);
    let (out, _) = run.signal_and_wait("INT");
    assert_code(&out, 130);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    validate_report(&file);
    assert_eq!(file["exit_code"], 130);
    let stdout: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(stdout, file);
}

// ---------------------------------------------------------------- defect 9

#[test]
fn numeric_flags_refuse_zero_at_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "one.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    let s = src.to_str().unwrap();
    let url = "postgresql://nobody@127.0.0.1:1/none";
    let cases: Vec<Vec<&str>> = vec![
        vec!["plan", s, "--chunk-rows", "0"],
        vec!["plan", s, "-j", "0"],
        vec!["plan", s, "--writers", "0"],
        vec!["plan", s, url, "--calibrate", "--calibrate-rows", "0"],
        vec!["migrate", s, url, "--chunk-rows", "0"],
        vec!["migrate", s, url, "--jobs", "0"],
        vec!["migrate", s, url, "--writers", "0"],
    ];
    for args in cases {
        let out = ferry(&args);
        assert_code(&out, 2);
        assert!(out.stderr.contains("invalid value '0'"), "{out}");
    }
    // And the flag still works with a positive value.
    let out = ferry(&["plan", s, "--chunk-rows", "1"]);
    assert_code(&out, 0);
}

// ------------------------------------------- the stop's message, in create mode

/// A mapping rule that makes `p.ok` boolean in create mode, so the
/// `'maybe'` in its last row stops the load there.
fn boolean_rule(dir: &Path) -> PathBuf {
    let path = dir.join("rule.toml");
    std::fs::write(&path, "[tables.p.columns]\nok = { type = \"boolean\" }\n").unwrap();
    path
}

#[test]
fn create_mode_stop_moves_committed_sequences_and_says_how_to_finish() {
    let dir = tempfile::tempdir().unwrap();
    let src = pc_source(dir.path(), 50_000);
    let rule = boolean_rule(dir.path());
    let db = server().fresh_db("fp_create_stop");
    let st = state_dir(dir.path());
    let out = migrate_in(&src, &db, &st, &["--mapping", rule.to_str().unwrap()]);
    assert_code(&out, 2);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM c"), 10, "{out}");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM p"), 0, "{out}");
    assert_eq!(
        db.query_scalar_i64("SELECT nextval(pg_get_serial_sequence('c', 'id'))"),
        11,
        "{out}"
    );
    for needle in [
        "\"c\" (10 rows)",
        "empty (rolled back or not started): \"p\"",
        "sequences moved past the rows of: \"c\"",
        "--resume",
        "drop the tables",
    ] {
        assert!(out.stderr.contains(needle), "missing {needle:?}: {out}");
    }
    assert!(
        !out.stderr.contains("ferry-test-secret"),
        "no password in the command to run: {out}"
    );
    // Fixed, the run resumes into the catalog a clean run makes.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("UPDATE p SET ok = 1 WHERE ok = 'maybe'", [])
        .unwrap();
    drop(conn);
    let out = migrate_in(&src, &db, &st, &["--mapping", rule.to_str().unwrap(), "--resume"]);
    assert_code(&out, 0);
    let reference = server().fresh_db("fp_create_stop_reference");
    let clean = migrate_in(
        &src,
        &reference,
        state_dir(&dir.path().join("ref")),
        &["--mapping", rule.to_str().unwrap()],
    );
    assert_code(&clean, 0);
    assert_eq!(catalog(&db), catalog(&reference));
}

#[test]
fn a_rehearsal_that_stops_is_not_told_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let src = pc_source(dir.path(), 2_000);
    let rule = boolean_rule(dir.path());
    let out = crate::util::cmd::ferry_env(
        &[
            "migrate",
            src.to_str().unwrap(),
            "--target-scratch",
            "--state-dir",
            &state_dir(dir.path()),
            "--mapping",
            rule.to_str().unwrap(),
        ],
        &[("TMPDIR", dir.path().to_str().unwrap())],
    );
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("maybe") && out.stderr.contains("nothing to resume"),
        "{out}"
    );
    assert!(!out.stderr.contains("--resume"), "{out}");
}

#[test]
fn a_second_interrupt_exits_at_once_and_the_next_run_repairs() {
    let Case { dir, src, db } =
        Case::new("fp_second_interrupt", BIG_SOURCE).with_target(BIG_TARGET);
    let st = state_dir(dir.path());
    let mut run = spawn(&["migrate", src.to_str().unwrap(), &db.url, "--state-dir", &st, "-q", "-j", "1", "--writers", "1"]);
    cmd::wait_committed(Path::new(&st), "child", &mut run.child, Duration::from_secs(180));
    // The first interrupt stops the load; the keys set aside are being put
    // back (the index on 600,000 rows) when the second one comes.
    run.signal("INT");
    wait_for_statement(&db, "CREATE INDEX%", &mut run);
    let (out, took) = run.signal_and_wait("INT");
    assert_code(&out, 130);
    assert!(took < Duration::from_secs(3), "exits at once: {took:?}\n{out}");
    assert!(out.stderr.contains("second interrupt"), "{out}");
    let out = migrate_in(&src, &db, &st, &["--resume", "-q"]);
    assert_code(&out, 0);
    assert_eq!(catalog(&db), uninterrupted_catalog("fp_second_interrupt_reference", BIG_TARGET, &src, &[]));
}
