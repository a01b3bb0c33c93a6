//! Faults at random (issue 16, point 4): many times over, a command among
//! `ferry migrate`, `ferry migrate --resume` and `ferry sync` (the source
//! changed through SQLite first) is started and, at a random moment, killed
//! with SIGKILL, or now and then the PostgreSQL server is restarted under
//! it instead. Then the documented recovery runs until it succeeds: a
//! stopped `migrate` is continued with `migrate --resume` (or run again
//! when it stopped before recording anything), a stopped `sync` is run
//! again. Every time:
//!
//! - the target equals the source, by an independent read-back (every row
//!   read with SQL on the target and with rusqlite on the source, compared
//!   as multisets; not ferry's own verification), with its keys in place;
//! - no run reported a table done that was not: every table the run
//!   journal records as committed, every table a `--json` report calls
//!   equal or committed, and every table the stderr summary marks `ok`
//!   holds exactly the source's rows when the run has ended; a `sync`
//!   that did not finish left the target wholly in its earlier state or
//!   wholly in the new one (it commits in one transaction).
//!
//! The figures (runs, kills, server restarts, rows lost) are printed at the
//! end; rows lost must be 0. Rounds: 12 by default (CI), `FERRY_RANDOM_KILLS=N`
//! for more. The choices and moments come from a seeded generator; the seed
//! is printed and `FERRY_RANDOM_KILLS_SEED=S` replays the same choices (the
//! moments a kill lands still depend on the machine's speed).
//!
//! The test runs on a cluster of its own (`util::cluster`), since it
//! restarts the server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::cluster::Cluster;
use crate::util::cmd::{self, Output};

/// The commands the test interrupts.
const COMMANDS: &[Kind] = &[Kind::Migrate, Kind::Resume, Kind::Sync];

/// Rows of the largest table; the others are sized from it.
const CHILD_ROWS: i64 = 40_000;
const PARENT_ROWS: i64 = 2_000;
const PAIR_ROWS: i64 = 12_000;
const LOOSE_ROWS: i64 = 8_000;
/// Key columns per table, for the report of a lost row.
const TABLES: &[&str] = &["parent", "child", "pair", "loose"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Migrate,
    Resume,
    Sync,
}

/// splitmix64: small, seedable, good enough to pick moments and rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One value, comparable across SQLite and PostgreSQL (floats by bits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Null,
    Int(i64),
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
}

/// A table's rows as a multiset.
type Rows = BTreeMap<Vec<Val>, u32>;
/// Every table's rows.
type State = BTreeMap<String, Rows>;

/// The figures printed at the end.
#[derive(Default, Debug)]
struct Figures {
    runs: u32,
    kills: u32,
    restarts: u32,
    /// The fault came after the command had ended (or a restart it survived).
    too_late: u32,
    recoveries: u32,
    rows_lost: u64,
    rows_extra: u64,
    by_kind: BTreeMap<String, u32>,
}

/// A ferry command running in the background, and since when.
struct Running {
    ferry: cmd::Running,
    started: Instant,
}

impl Running {
    fn start(args: &[String], state_dir: &Path) -> Running {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let state_dir = state_dir.to_str().expect("state paths are UTF-8");
        Running {
            ferry: cmd::spawn(&args, &[("FERRY_STATE_DIR", state_dir)]),
            started: Instant::now(),
        }
    }

    fn running(&mut self) -> bool {
        self.ferry.running()
    }

    fn finish(self) -> (Output, Duration) {
        let out = self.ferry.finish();
        (out, self.started.elapsed())
    }
}

/// The source: a parent and its children (a foreign key), a composite
/// key, and a table without a primary key; in WAL mode, as a live
/// application's database is.
fn make_source(path: &Path, rng: &mut Rng) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id),
                             body TEXT, n INTEGER, data BLOB);
         CREATE TABLE pair (a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b));
         CREATE TABLE loose (x INTEGER, y TEXT);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for id in 1..=PARENT_ROWS {
        insert_parent(&tx, id, rng);
    }
    for id in 1..=CHILD_ROWS {
        insert_child(&tx, id, 1 + (id * 7919) % PARENT_ROWS, rng);
    }
    for i in 1..=PAIR_ROWS {
        insert_pair(&tx, i / 4, &format!("k{}", i % 4), rng);
    }
    for i in 1..=LOOSE_ROWS {
        tx.execute(
            "INSERT INTO loose VALUES (?1, ?2)",
            rusqlite::params![i % 1000, format!("loose {}", rng.below(1 << 20))],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn insert_parent(c: &rusqlite::Connection, id: i64, rng: &mut Rng) {
    let score = (rng.unit() * 1e6).round() / 7.0;
    c.execute(
        "INSERT INTO parent VALUES (?1, ?2, ?3)",
        rusqlite::params![id, format!("parent {id} ünï"), score],
    )
    .unwrap();
}

fn insert_child(c: &rusqlite::Connection, id: i64, parent: i64, rng: &mut Rng) {
    let r = rng.next();
    let body = format!("child {id} of {parent}: {r:016x} some text to give the row a body");
    let data: Option<Vec<u8>> = (r % 5 != 0).then(|| r.to_le_bytes().to_vec());
    let n: Option<i64> = (r % 7 != 0).then_some((r >> 8) as i64);
    c.execute(
        "INSERT OR REPLACE INTO child VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![id, parent, body, n, data],
    )
    .unwrap();
}

fn insert_pair(c: &rusqlite::Connection, a: i64, b: &str, rng: &mut Rng) {
    c.execute(
        "INSERT OR REPLACE INTO pair VALUES (?1, ?2, ?3)",
        rusqlite::params![a, b, format!("v{}", rng.next())],
    )
    .unwrap();
}

/// About 1 % of every table's rows changed by another connection, as the
/// application would: updates, inserts and deletes scattered over the
/// whole key range (children of a deleted parent deleted first).
fn change_source(path: &Path, rng: &mut Rng) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    let max = |t: &str| -> i64 {
        tx.query_row(&format!("SELECT coalesce(max(id), 0) FROM {t}"), [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (max_parent, max_child) = (max("parent"), max("child"));
    for _ in 0..PARENT_ROWS / 200 {
        let id = 1 + rng.below(max_parent as u64) as i64;
        tx.execute("DELETE FROM child WHERE parent_id = ?1", [id])
            .unwrap();
        tx.execute("DELETE FROM parent WHERE id = ?1", [id])
            .unwrap();
    }
    for _ in 0..PARENT_ROWS / 200 {
        let id = 1 + rng.below(max_parent as u64) as i64;
        tx.execute(
            "UPDATE parent SET name = name || '+', score = ?2 WHERE id = ?1",
            rusqlite::params![id, rng.unit()],
        )
        .unwrap();
    }
    let parents: Vec<i64> = tx
        .prepare("SELECT id FROM parent")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for i in 0..PARENT_ROWS / 200 {
        insert_parent(&tx, max_parent + 1 + i, rng);
    }
    for _ in 0..CHILD_ROWS / 300 {
        let id = 1 + rng.below(max_child as u64) as i64;
        tx.execute("DELETE FROM child WHERE id = ?1", [id]).unwrap();
        let id = 1 + rng.below(max_child as u64) as i64;
        tx.execute(
            "UPDATE child SET body = body || ' (changed)', n = ?2 WHERE id = ?1",
            rusqlite::params![id, rng.next() as i64 >> 3],
        )
        .unwrap();
        let parent = parents[rng.below(parents.len() as u64) as usize];
        if rng.below(2) == 0 {
            insert_child(&tx, max_child + 1 + rng.below(1000) as i64, parent, rng);
        } else {
            // Into a hole the deletes may have left, inside the key range.
            let id = 1 + rng.below(max_child as u64) as i64;
            tx.execute("DELETE FROM child WHERE id = ?1", [id]).unwrap();
            insert_child(&tx, id, parent, rng);
        }
    }
    for _ in 0..PAIR_ROWS / 100 {
        let a = rng.below((PAIR_ROWS / 4) as u64) as i64;
        match rng.below(3) {
            0 => {
                tx.execute("DELETE FROM pair WHERE a = ?1 AND b = 'k1'", [a])
                    .unwrap();
            }
            1 => {
                tx.execute("UPDATE pair SET v = v || '!' WHERE a = ?1", [a])
                    .unwrap();
            }
            _ => insert_pair(&tx, a, &format!("n{}", rng.below(3)), rng),
        }
    }
    for _ in 0..LOOSE_ROWS / 100 {
        let x = rng.below(1000) as i64;
        let sql = match rng.below(3) {
            0 => "DELETE FROM loose WHERE rowid IN (SELECT rowid FROM loose WHERE x = ?1 LIMIT 1)",
            1 => {
                "UPDATE loose SET y = y || '~' WHERE rowid IN (SELECT rowid FROM loose WHERE x = ?1 LIMIT 1)"
            }
            _ => "INSERT INTO loose VALUES (?1, 'new')",
        };
        tx.execute(sql, [x]).unwrap();
    }
    tx.commit().unwrap();
}

/// Every table of the source, read with rusqlite.
fn read_source(path: &Path) -> State {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut state = State::new();
    for &t in TABLES {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = Rows::new();
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let row: Vec<Val> = (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => Val::Null,
                    rusqlite::types::ValueRef::Integer(v) => Val::Int(v),
                    rusqlite::types::ValueRef::Real(v) => Val::Real(v.to_bits()),
                    rusqlite::types::ValueRef::Text(v) => {
                        Val::Text(String::from_utf8(v.to_vec()).unwrap())
                    }
                    rusqlite::types::ValueRef::Blob(v) => Val::Blob(v.to_vec()),
                })
                .collect();
            *rows.entry(row).or_default() += 1;
        }
        state.insert(t.to_owned(), rows);
    }
    state
}

/// Every table of the target, read with SQL in one repeatable-read
/// transaction (one moment); a table that does not exist reads as empty.
fn read_target(client: &mut postgres::Client) -> State {
    use postgres::types::Type;
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    let mut state = State::new();
    for &t in TABLES {
        let exists: bool = tx
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("public.\"{t}\"")],
            )
            .unwrap()
            .get(0);
        let mut rows = Rows::new();
        if exists {
            for r in tx
                .query(&format!("SELECT * FROM public.\"{t}\""), &[])
                .unwrap()
            {
                let row: Vec<Val> = (0..r.len())
                    .map(|i| {
                        let ty = r.columns()[i].type_().clone();
                        let v = match ty {
                            Type::INT8 => r.get::<_, Option<i64>>(i).map(Val::Int),
                            Type::INT4 => r.get::<_, Option<i32>>(i).map(|v| Val::Int(v.into())),
                            Type::INT2 => r.get::<_, Option<i16>>(i).map(|v| Val::Int(v.into())),
                            Type::FLOAT8 => r.get::<_, Option<f64>>(i).map(|v| Val::Real(v.to_bits())),
                            Type::TEXT | Type::VARCHAR => r.get::<_, Option<String>>(i).map(Val::Text),
                            Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(Val::Blob),
                            other => panic!("table {t}: column {i} has type {other}, which the read-back does not know"),
                        };
                        v.unwrap_or(Val::Null)
                    })
                    .collect();
                *rows.entry(row).or_default() += 1;
            }
        }
        state.insert(t.to_owned(), rows);
    }
    tx.commit().unwrap();
    state
}

/// Rows of `want` missing from `got` and rows of `got` not in `want`.
fn difference(want: &Rows, got: &Rows) -> (u64, u64, Vec<String>) {
    let (mut lost, mut extra, mut sample) = (0, 0, Vec::new());
    for (row, &n) in want {
        let m = got.get(row).copied().unwrap_or(0);
        if m < n {
            lost += u64::from(n - m);
            if sample.len() < 5 {
                sample.push(format!("missing {row:?}"));
            }
        }
    }
    for (row, &n) in got {
        let m = want.get(row).copied().unwrap_or(0);
        if m < n {
            extra += u64::from(n - m);
            if sample.len() < 10 {
                sample.push(format!("extra {row:?}"));
            }
        }
    }
    (lost, extra, sample)
}

/// Waits until no session of ferry is left on the server (a killed
/// client's backend ends when it notices), so what is read is final.
fn wait_sessions_gone(client: &mut postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = client
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry' AND pid <> pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        if n == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ferry's sessions did not end within 60 s"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The tables a run said were done: the run journal's committed tables,
/// the `--json` report's equal and committed tables, the stderr summary's
/// `ok` lines.
fn claimed_done(out: &Output, state_dir: &Path, kind: Kind) -> Vec<(String, String)> {
    let mut claims = Vec::new();
    if matches!(kind, Kind::Migrate | Kind::Resume) {
        for e in std::fs::read_dir(state_dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("run-") && name.ends_with(".json")) {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap();
            let j: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("journal {name}: {e}\n{text}"));
            for t in j["done"].as_object().into_iter().flatten().map(|(k, _)| k) {
                claims.push((t.clone(), format!("the run journal {name}")));
            }
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&out.stdout) {
        // migrate: {"tables": [...]}; sync: its per-table list, at the top or under "tables".
        for t in v["tables"]
            .as_array()
            .or(v.as_array())
            .into_iter()
            .flatten()
        {
            let done =
                t["status"] == "equal" || t["status"] == "count_equal" || t["verified"] == true;
            if done && let Some(name) = t["table"].as_str() {
                claims.push((name.to_owned(), "the --json report's tables".into()));
            }
        }
        for t in v["stopped"]["committed"].as_array().into_iter().flatten() {
            if let Some(name) = t["table"].as_str() {
                claims.push((
                    name.to_owned(),
                    "the --json report's stopped.committed".into(),
                ));
            }
        }
    } else {
        assert!(
            out.stdout.trim().is_empty() || out.code == 137,
            "stdout is not one JSON document\n{out}"
        );
    }
    for line in out.stderr.lines() {
        // migrate: "… ok (count + hash)"; sync: "yes" in its verified column.
        if (line.contains(" ok (") || line.ends_with("  yes"))
            && let Some(name) = line.split_whitespace().next()
        {
            claims.push((name.to_owned(), "the stderr summary".into()));
        }
    }
    claims
}

struct Harness {
    cluster: Cluster,
    admin: postgres::Client,
    client: postgres::Client,
    url: String,
    src: PathBuf,
    state_dir: PathBuf,
    rng: Rng,
    seed: u64,
    figures: Figures,
    /// How long an uninterrupted run of each kind took last time.
    took: BTreeMap<Kind, Duration>,
    log: Vec<String>,
}

const DB: &str = "random_kills";

impl Harness {
    fn args(&self, kind: Kind) -> Vec<String> {
        let src = self.src.display().to_string();
        let mut a: Vec<String> = match kind {
            Kind::Migrate | Kind::Resume => {
                vec!["migrate".into(), src, self.url.clone(), "--json".into()]
            }
            Kind::Sync => vec!["sync".into(), src, self.url.clone(), "--json".into()],
        };
        if kind == Kind::Resume {
            a.push("--resume".into());
        }
        a
    }

    /// An empty target database and no journals.
    fn fresh_target(&mut self) {
        wait_sessions_gone(&mut self.admin);
        // Not connected to the database being dropped.
        self.client = self.cluster.client("postgres");
        self.admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
            .unwrap();
        self.admin
            .batch_execute(&format!("CREATE DATABASE {DB}"))
            .unwrap();
        self.client = self.cluster.client(DB);
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }

    fn unfinished_journal(&self) -> bool {
        std::fs::read_dir(&self.state_dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("run-")
                    && n.ends_with(".json")
                    && std::fs::read_to_string(e.path()).is_ok_and(|s| {
                        s.contains("\"finished\":false") || s.contains("\"finished\": false")
                    })
            })
    }

    /// Starts `kind` and, after a random part of its usual time (`span`
    /// of it at most), kills it or restarts the server. Returns the run's
    /// output and whether the fault landed while it ran.
    fn run_with_fault(&mut self, kind: Kind, span: f64) -> (Output, bool) {
        let usual = self
            .took
            .get(&kind)
            .or(self.took.get(&Kind::Migrate))
            .copied()
            .unwrap_or(Duration::from_secs(3));
        let delay = usual.mul_f64(span * self.rng.unit());
        let restart = self.rng.below(4) == 0;
        let mut run = Running::start(&self.args(kind), &self.state_dir);
        self.figures.runs += 1;
        *self
            .figures
            .by_kind
            .entry(format!("{kind:?}").to_lowercase())
            .or_default() += 1;
        while run.started.elapsed() < delay && run.running() {
            thread::sleep(Duration::from_millis(2));
        }
        let landed = run.running();
        let what = if restart { "server restart" } else { "SIGKILL" };
        if landed {
            if restart {
                self.cluster.restart();
                self.admin = self.cluster.client("postgres");
                self.client = self.cluster.client(DB);
            } else {
                run.ferry.child.kill().unwrap();
            }
        }
        let (out, took) = run.finish();
        // A server restart the run finished before (or survived) is no fault.
        let landed = landed && out.code != 0;
        if restart && landed {
            self.figures.restarts += 1;
        }
        if !restart && landed {
            self.figures.kills += 1;
        }
        if !landed {
            self.figures.too_late += 1;
        }
        self.log.push(format!(
            "  {kind:?}: {what} after {:.2}s (usual {:.2}s): {}; exit {}{}",
            delay.as_secs_f64(),
            usual.as_secs_f64(),
            if landed {
                "landed"
            } else {
                "too late, the run had ended"
            },
            out.code,
            if matches!(out.code, 0 | 137) {
                String::new()
            } else {
                format!(": {}", out.stderr.lines().next().unwrap_or_default())
            }
        ));
        if !landed {
            self.took.insert(kind, took);
        }
        (out, landed)
    }

    /// What the run said it finished holds exactly the source's rows.
    fn check_claims(&mut self, out: &Output, kind: Kind, source: &State) {
        wait_sessions_gone(&mut self.client);
        let claims = claimed_done(out, &self.state_dir, kind);
        if claims.is_empty() {
            return;
        }
        let target = read_target(&mut self.client);
        for (table, by) in claims {
            let want = source
                .get(&table)
                .unwrap_or_else(|| panic!("{by} names {table:?}, not a source table\n{out}"));
            let (lost, extra, sample) = difference(want, &target[&table]);
            assert!(
                lost == 0 && extra == 0,
                "{by} reports table {table:?} done, but the target lacks {lost} of its rows and has {extra} others: {sample:?}\n{}\n{out}",
                self.context()
            );
        }
    }

    /// The documented recovery, until it succeeds: `migrate --resume`
    /// while a run is unfinished (else `migrate` again), or `sync` again.
    fn recover(&mut self, kind: Kind, source: &State) {
        for attempt in 1..=4 {
            let next = match kind {
                Kind::Sync => Kind::Sync,
                _ if self.unfinished_journal() => Kind::Resume,
                _ => Kind::Migrate,
            };
            let t0 = Instant::now();
            let run = Running::start(&self.args(next), &self.state_dir);
            let (out, took) = run.finish();
            self.figures.runs += 1;
            self.figures.recoveries += 1;
            self.log.push(format!(
                "  recovery {attempt}: {next:?} exit {} in {:.2}s{}",
                out.code,
                t0.elapsed().as_secs_f64(),
                if out.code == 0 {
                    String::new()
                } else {
                    format!(": {}", out.stderr.lines().next().unwrap_or_default())
                }
            ));
            self.check_claims(&out, next, source);
            if out.code == 0 {
                if next == kind {
                    self.took.insert(kind, took);
                }
                return;
            }
            assert!(
                out.code != 1,
                "the recovery's verification found differences\n{}\n{out}",
                self.context()
            );
        }
        panic!("the recovery did not succeed in 4 runs\n{}", self.context());
    }

    /// The target equals the source by an independent read-back, its keys
    /// in place; counts rows lost.
    fn check_equal(&mut self, source: &State) {
        wait_sessions_gone(&mut self.client);
        let target = read_target(&mut self.client);
        let mut bad = Vec::new();
        for (t, want) in source {
            let (lost, extra, sample) = difference(want, &target[t]);
            self.figures.rows_lost += lost;
            self.figures.rows_extra += extra;
            if lost + extra > 0 {
                bad.push(format!(
                    "{t}: {lost} row(s) lost, {extra} extra, e.g. {sample:?}"
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "the target differs from the source after recovery:\n{}\n{}",
            bad.join("\n"),
            self.context()
        );
        let mut keys = |c: &str| -> i64 {
            self.client
                .query_one(
                    "SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype = $1::text::\"char\" AND convalidated",
                    &[&c],
                )
                .unwrap()
                .get(0)
        };
        let (pk, fk) = (keys("p"), keys("f"));
        assert_eq!(
            (pk, fk),
            (3, 1),
            "primary keys and validated foreign keys after recovery\n{}",
            self.context()
        );
    }

    fn context(&self) -> String {
        format!(
            "seed {} (replay: FERRY_RANDOM_KILLS_SEED={}); rounds so far:\n{}",
            self.seed,
            self.seed,
            self.log.join("\n")
        )
    }
}

/// To stderr past the test harness's capture, so that CI's log shows the
/// seed and the figures of a passing run too.
fn say(text: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[test]
fn random_kills_and_restarts_lose_no_row() {
    let rounds: u32 = std::env::var("FERRY_RANDOM_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("FERRY_RANDOM_KILLS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    say(format!(
        "random_kills: seed {seed} (replay with FERRY_RANDOM_KILLS_SEED={seed}), {rounds} rounds"
    ));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("live.db");
    let mut rng = Rng(seed);
    make_source(&src, &mut rng);
    let cluster = Cluster::start("random-kills", |_| String::new());
    let mut admin = cluster.client("postgres");
    admin
        .batch_execute(&format!("CREATE DATABASE {DB}"))
        .unwrap();
    let client = cluster.client(DB);
    let url = cluster.url("127.0.0.1", DB);
    let mut h = Harness {
        admin,
        client,
        url,
        cluster,
        src,
        state_dir: dir.path().join("state"),
        rng,
        seed,
        figures: Figures::default(),
        took: BTreeMap::new(),
        log: Vec::new(),
    };
    let t0 = Instant::now();
    // A first, uninterrupted migration: the target every later round
    // starts from, and how long a migration takes here.
    let mut source = read_source(&h.src);
    h.recover(Kind::Migrate, &source);
    h.check_equal(&source);

    for round in 1..=rounds {
        let kind = COMMANDS[h.rng.below(COMMANDS.len() as u64) as usize];
        h.log.push(format!("round {round}: {kind:?}"));
        let code = match kind {
            Kind::Migrate => {
                h.fresh_target();
                let (out, _) = h.run_with_fault(Kind::Migrate, 1.2);
                h.check_claims(&out, Kind::Migrate, &source);
                out.code
            }
            Kind::Resume => {
                // A migration stopped early, then its --resume stopped too.
                h.fresh_target();
                let (out, _) = h.run_with_fault(Kind::Migrate, 0.8);
                h.check_claims(&out, Kind::Migrate, &source);
                if h.unfinished_journal() {
                    let (out, _) = h.run_with_fault(Kind::Resume, 1.2);
                    h.check_claims(&out, Kind::Resume, &source);
                    out.code
                } else {
                    h.log.push("  (no unfinished run to resume)".into());
                    out.code
                }
            }
            Kind::Sync => {
                let before = source.clone();
                change_source(&h.src, &mut h.rng);
                source = read_source(&h.src);
                let (out, landed) = h.run_with_fault(Kind::Sync, 1.2);
                h.check_claims(&out, Kind::Sync, &source);
                // One transaction: wholly the old state or wholly the new.
                wait_sessions_gone(&mut h.client);
                let now = read_target(&mut h.client);
                assert!(
                    now == before || now == source,
                    "a stopped sync (fault landed: {landed}) left the target neither in the old state nor in the new\n{}\n{out}",
                    h.context()
                );
                out.code
            }
        };
        // A run the fault came too late for has nothing to recover.
        if code != 0 {
            h.recover(kind, &source);
        }
        h.check_equal(&source);
    }
    let f = &h.figures;
    say(format!(
        "random_kills: {} rounds in {:.0}s: runs {} ({} recoveries; by kind {:?}), kills {}, server restarts {}, \
         faults that came after the run ended {}, rows lost {}, rows extra {}",
        rounds,
        t0.elapsed().as_secs_f64(),
        f.runs,
        f.recoveries,
        f.by_kind,
        f.kills,
        f.restarts,
        f.too_late,
        f.rows_lost,
        f.rows_extra
    ));
    assert_eq!(f.rows_lost, 0);
    assert!(
        f.kills + f.restarts > 0,
        "no fault landed in {rounds} rounds\n{}",
        h.context()
    );
}

/// The hole next to the one this test found: a create-mode run that stopped
/// with its tables created and none committed (here a bad value; a SIGKILL
/// right after the CREATE TABLEs does the same) leaves empty tables without
/// keys. A rerun without `--resume` must not take them for an existing
/// schema and end "verified" with no key at all; `--resume` finishes.
#[test]
fn a_plain_rerun_after_a_stopped_create_is_refused_and_resume_makes_the_keys() {
    use crate::util::cmd::{assert_code, ferry};
    let dir = tempfile::tempdir().unwrap();
    let src = crate::util::sqlite::db_from_sql(
        dir.path(),
        "one.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME);
         INSERT INTO t VALUES (1, '2024-01-01 00:00:00'), (2, 'not a date');",
    );
    let db = crate::util::pg::server().fresh_db("random_kills_plain_rerun");
    let state = dir.path().join("state");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "migrate",
            src.to_str().unwrap(),
            &db.url,
            "--state-dir",
            state.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| ferry(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let first = run(args(&[]));
    assert_code(&first, 2);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM t"), 0, "{first}");
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("UPDATE t SET at = '2024-01-02 00:00:00' WHERE id = 2", [])
        .unwrap();
    drop(conn);
    let plain = run(args(&[]));
    assert_code(&plain, 2);
    assert!(plain.stderr.contains("--resume"), "{plain}");
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM t"),
        0,
        "the refused run wrote nothing\n{plain}"
    );
    let resumed = run(args(&["--resume"]));
    assert_code(&resumed, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM t"), 2);
    assert_eq!(
        db.query_scalar_i64(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 't'::regclass"
        ),
        1,
        "the primary key a create run makes\n{resumed}"
    );
}
