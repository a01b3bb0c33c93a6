//! A throwaway PostgreSQL server for the integration tests.
//!
//! ferry's behaviour lives in the server's hands (binary COPY input, type
//! input functions, constraints, sequences), so the tests talk to a real
//! PostgreSQL, never a mock. Starting a cluster costs a second or two, so one
//! cluster serves the whole test run: the first test process starts it under
//! `target/ferry-test-pg/`, later processes (nextest runs one per test) find
//! it through `postmaster.pid` and reuse it. Two file locks coordinate them:
//! `start.lock`, held exclusively through the check-then-start so concurrent
//! processes do not race, and `in-use.lock`, held shared by every process
//! that uses the cluster until it exits, so that `scripts/stop-test-pg.sh`
//! (which `scripts/test.sh` runs on exit) waits instead of pulling the server
//! from under another test run in the same checkout. Each test asks for its
//! own database with [`TestServer::fresh_db`], so tests never see each other's
//! tables. Database names are stable (named after the test, not the process),
//! so the same test run by two processes at once against one cluster collides;
//! two concurrent `cargo test` runs in one checkout should use separate
//! `CARGO_TARGET_DIR`s, which gives each its own cluster.
//!
//! `FERRY_TEST_PG=postgresql://user:pw@host:port/db` points the tests at an
//! existing server instead (its role needs CREATEDB); `FERRY_TEST_PGURL` is
//! accepted as the same thing.
//!
//! Nothing here skips a test. A server that cannot be started or reached is a
//! failure that names the reason and shows the tail of the server log: a test
//! suite that passes because it did not run proves nothing, in CI or locally.
//!
//! When the tests run as root (CI does), `initdb` and `pg_ctl` refuse to run,
//! so they run as the `postgres` OS user (from the Debian package) through
//! `runuser`, or as a `ferrytest` system user created for the purpose.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Password of the `ferry` superuser in the cluster the harness starts.
pub const TEST_PASSWORD: &str = "ferry-test-secret-pw";

/// Superuser role created by `initdb -U`.
const ROLE: &str = "ferry";

/// Prefix of every database `fresh_db` creates, so that it can never drop a
/// database it did not make, even on a shared `FERRY_TEST_PG` server.
const DB_PREFIX: &str = "ferry_test_";

/// Written next to the data directory after `initdb`. When what `initdb` was
/// asked for changes (role, password, encoding, server version), the stamp
/// no longer matches and the cluster is made again from scratch.
const STAMP_FORMAT: &str = "ferry-test-pg 1";

/// The server every test in this process uses.
pub struct TestServer {
    /// `postgresql://user:password@host:port`: the URL before the database.
    prefix: String,
    /// Database for administrative connections; `None` leaves it to libpq's
    /// default (the user name), as in a `FERRY_TEST_PG` URL without a path.
    admin_db: Option<String>,
    /// The URL's query string with its `?`, or empty.
    query: String,
    /// `in-use.lock`, locked shared; the server lives in a static, so this
    /// is released only when the process exits.
    _in_use: Option<File>,
}

/// A database of its own for one test.
pub struct TestDb {
    pub name: String,
    /// `postgresql://ferry:PASSWORD@127.0.0.1:PORT/name` for the harness's
    /// cluster; the `FERRY_TEST_PG` URL with its database replaced otherwise.
    pub url: String,
}

static SERVER: OnceLock<Result<TestServer, String>> = OnceLock::new();

/// The shared server, started (or found) on first use.
///
/// # Panics
///
/// When no server can be started or reached; the message says why. The
/// failure is remembered, so every later test fails at once with the same
/// message instead of trying again.
pub fn server() -> &'static TestServer {
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("test PostgreSQL unavailable: {why}"),
    }
}

impl TestServer {
    /// A server named by URL, as `FERRY_TEST_PG` names one: for tests that run
    /// against a server of their own (`pg_versions.rs` starts one cluster per
    /// PostgreSQL version). The URL's database is used for administrative
    /// connections.
    pub fn at(url: &str) -> Result<TestServer, String> {
        split_url(url)
    }

    /// URL for administrative work (`CREATE DATABASE`): the `postgres`
    /// database of the harness's cluster, or the `FERRY_TEST_PG` URL as given.
    pub fn admin_url(&self) -> String {
        self.url_for(self.admin_db.as_deref())
    }

    /// Drops the database named after `name` if a previous run left it, creates
    /// it empty, and returns it. The database is left in place afterwards so a
    /// failed test's data can be inspected; the next run drops it.
    ///
    /// `name` is reduced to `[a-z0-9_]`, prefixed with `ferry_test_` and, when
    /// too long for PostgreSQL's 63 bytes, shortened with a hash suffix.
    pub fn fresh_db(&self, name: &str) -> TestDb {
        let name = db_name(name);
        let mut admin = connect(&self.admin_url()).unwrap_or_else(|e| {
            panic!(
                "connecting to {}: {}",
                redact(&self.admin_url()),
                describe(&e)
            )
        });
        // Two round trips: a multi-statement string would run as one
        // transaction, and CREATE/DROP DATABASE refuse to run inside one.
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"),
        ] {
            if let Err(e) = admin.batch_execute(&sql) {
                let hint = if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) {
                    "\n(another process created it since the DROP: is the same test running in \
                     two processes against this cluster, e.g. two `cargo test` in one checkout?)"
                } else {
                    ""
                };
                panic!("{sql}: {}{hint}", describe(&e));
            }
        }
        let url = self.url_for(Some(&name));
        TestDb { name, url }
    }

    fn url_for(&self, db: Option<&str>) -> String {
        match db {
            Some(db) => format!("{}/{db}{}", self.prefix, self.query),
            None => format!("{}{}", self.prefix, self.query),
        }
    }
}

impl TestDb {
    /// A new connection to this database, with `TimeZone` set to UTC so that
    /// `timestamptz` reads back the same on any server.
    pub fn client(&self) -> postgres::Client {
        let mut client = connect(&self.url).unwrap_or_else(|e| {
            panic!(
                "connecting to test database {}: {}",
                self.name,
                describe(&e)
            )
        });
        client
            .batch_execute("SET TimeZone = 'UTC'")
            .unwrap_or_else(|e| panic!("setting TimeZone on {}: {}", self.name, describe(&e)));
        client
    }

    /// Runs `sql`, which must return exactly one row with one non-NULL
    /// integer column (`int2`, `int4` or `int8`, e.g. `count(*)`).
    pub fn query_scalar_i64(&self, sql: &str) -> i64 {
        let rows = self
            .client()
            .query(sql, &[])
            .unwrap_or_else(|e| panic!("query on {} failed: {}\n  {sql}", self.name, describe(&e)));
        assert!(
            rows.len() == 1 && rows[0].len() == 1,
            "expected one row with one column, got {} rows\n  {sql}",
            rows.len()
        );
        let row = &rows[0];
        let ty = row.columns()[0].type_().clone();
        let value = match ty {
            postgres::types::Type::INT8 => row.try_get::<_, Option<i64>>(0),
            postgres::types::Type::INT4 => {
                row.try_get::<_, Option<i32>>(0).map(|v| v.map(i64::from))
            }
            postgres::types::Type::INT2 => {
                row.try_get::<_, Option<i16>>(0).map(|v| v.map(i64::from))
            }
            other => panic!("expected an integer column, got {other}; cast it\n  {sql}"),
        };
        match value {
            Ok(Some(v)) => v,
            Ok(None) => panic!("expected an integer, got NULL\n  {sql}"),
            Err(e) => panic!("reading the result: {}\n  {sql}", describe(&e)),
        }
    }

    /// Runs `sql` through the simple query protocol and returns every row of
    /// every result as the server's text output, `None` for NULL. The text
    /// form is what `psql` shows, which makes expectations easy to write for
    /// any column type; `sql` may hold several statements.
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let messages = self
            .client()
            .simple_query(sql)
            .unwrap_or_else(|e| panic!("query on {} failed: {}\n  {sql}", self.name, describe(&e)));
        messages
            .iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }
}

/// The database name for a test name: lowercase `[a-z0-9_]`, prefixed, at
/// most 63 bytes (PostgreSQL would silently truncate a longer one, and two
/// long test names could then share a database).
pub fn db_name(test_name: &str) -> String {
    let cleaned: String = test_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{DB_PREFIX}{cleaned}");
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a: the same name on every toolchain, so a rerun finds (and
    // drops) the database the last run left.
    let hash = test_name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}_{:012x}", &name[..50], hash & 0xffff_ffff_ffff)
}

/// A PostgreSQL error with the server's own words. `postgres::Error`
/// displays only "db error" or "error connecting to server" and keeps the
/// message, SQLSTATE, detail and hint (or the I/O cause) behind `source()`.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        for (label, value) in [("DETAIL", db.detail()), ("HINT", db.hint())] {
            if let Some(value) = value {
                text.push_str(&format!("\n  {label}: {value}"));
            }
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    text
}

fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.connect(postgres::NoTls)
}

fn start() -> Result<TestServer, String> {
    let external = ["FERRY_TEST_PG", "FERRY_TEST_PGURL"]
        .iter()
        .find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (var, v))
        });
    match external {
        Some((var, url)) => use_external(var, &url),
        None => Cluster::start_or_reuse(),
    }
}

/// Checks that the server named by `FERRY_TEST_PG` answers and uses it.
fn use_external(var: &str, url: &str) -> Result<TestServer, String> {
    let server = split_url(url).map_err(|e| format!("{var}: {e}"))?;
    let mut client = connect(url)
        .map_err(|e| format!("{var}={}: cannot connect: {}", redact(url), describe(&e)))?;
    client
        .batch_execute("SELECT 1")
        .map_err(|e| format!("{var}={}: {}", redact(url), describe(&e)))?;
    Ok(server)
}

/// Splits `postgres[ql]://authority[/db][?query]` into the parts a
/// `TestServer` recombines with other database names.
fn split_url(url: &str) -> Result<TestServer, String> {
    let scheme_len = ["postgresql://", "postgres://"]
        .iter()
        .find(|scheme| url.starts_with(*scheme))
        .map(|scheme| scheme.len())
        .ok_or("expected a postgresql:// URL")?;
    let (before_query, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let (prefix, admin_db) = match before_query[scheme_len..].find('/') {
        Some(slash) => {
            let (prefix, path) = before_query.split_at(scheme_len + slash);
            let db = &path[1..];
            (prefix, (!db.is_empty()).then(|| db.to_owned()))
        }
        None => (before_query, None),
    };
    Ok(TestServer {
        prefix: prefix.to_owned(),
        admin_db,
        query: query.to_owned(),
        _in_use: None,
    })
}

/// The URL with its password replaced, for messages.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..start + colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// The harness's own cluster under `target/ferry-test-pg/`.
struct Cluster {
    /// PostgreSQL's bin directory (`initdb`, `pg_ctl`, `postgres`).
    bin: PathBuf,
    /// `target/ferry-test-pg`: lock files, stamp, password file; owned by us.
    base: PathBuf,
    /// `base/data`: the cluster, owned by `user` when we are root.
    data: PathBuf,
    /// The OS user that runs the server when we are root; `None` runs it as us.
    user: Option<OsUser>,
}

struct OsUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl Cluster {
    fn start_or_reuse() -> Result<TestServer, String> {
        // target/tmp is CARGO_TARGET_TMPDIR; its parent honours CARGO_TARGET_DIR.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent");
        let base = target.join("ferry-test-pg");
        fs::create_dir_all(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
        // Same order as scripts/stop-test-pg.sh: start.lock, then in-use.lock.
        let _starting = lock_file(&base.join("start.lock"), File::lock)?;
        let in_use = lock_file(&base.join("in-use.lock"), File::lock_shared)?;

        let cluster = Cluster {
            bin: bin_dir()?,
            data: base.join("data"),
            user: server_user()?,
            base,
        };
        let port = cluster.ensure_running()?;
        Ok(TestServer {
            prefix: format!("postgresql://{ROLE}:{TEST_PASSWORD}@127.0.0.1:{port}"),
            admin_db: Some("postgres".to_owned()),
            query: String::new(),
            _in_use: Some(in_use),
        })
        // `_starting` drops here: the server is up and its port is in postmaster.pid.
    }

    /// Returns the port of a running, reachable cluster, starting (and if
    /// need be creating) it first.
    fn ensure_running(&self) -> Result<u16, String> {
        if self.is_running()? {
            match self.running_port() {
                Some(port) if self.answers(port).is_ok() => return Ok(port),
                _ => {
                    // Left over from a run of another harness version or a
                    // half-dead server: stop it and start it again below.
                    eprintln!("ferry-test-pg: restarting an unreachable test cluster");
                    self.pg_ctl(&["stop", "-m", "immediate", "-w"])?;
                }
            }
        }
        let stamp = self.stamp()?;
        let stamp_file = self.base.join("stamp");
        if fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str())
            || !self.data.join("PG_VERSION").is_file()
        {
            self.init()?;
            fs::write(&stamp_file, &stamp)
                .map_err(|e| format!("writing {}: {e}", stamp_file.display()))?;
        }
        // A port that was free a moment ago can be taken by the time the
        // server binds it; try a few.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            match self.start_on(port) {
                Ok(()) => {
                    return self.answers(port).map(|()| port).map_err(|e| {
                        format!(
                            "the test cluster started but refuses connections: {e}{}",
                            self.log_tail()
                        )
                    });
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn is_running(&self) -> Result<bool, String> {
        if !self.data.join("postmaster.pid").exists() {
            return Ok(false);
        }
        // pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        let status = self
            .command("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.data)
            .output()
            .map_err(|e| format!("running pg_ctl status: {e}"))?;
        Ok(status.status.success())
    }

    /// The port from `postmaster.pid` (line 4), which the server writes itself.
    fn running_port(&self) -> Option<u16> {
        let pid_file = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn answers(&self, port: u16) -> Result<(), String> {
        let url = format!("postgresql://{ROLE}:{TEST_PASSWORD}@127.0.0.1:{port}/postgres");
        let mut client = connect(&url).map_err(|e| describe(&e))?;
        client.batch_execute("SELECT 1").map_err(|e| describe(&e))
    }

    /// What `initdb` was asked for; see [`STAMP_FORMAT`].
    fn stamp(&self) -> Result<String, String> {
        let version = self.command("postgres").arg("--version").output();
        let version = match version {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
            Ok(out) => {
                return Err(format!(
                    "postgres --version: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Err(e) => return Err(format!("running {}/postgres: {e}", self.bin.display())),
        };
        Ok(format!(
            "{STAMP_FORMAT}\nrole={ROLE}\npassword={TEST_PASSWORD}\n{version}\n"
        ))
    }

    fn init(&self) -> Result<(), String> {
        if self.data.exists() {
            fs::remove_dir_all(&self.data)
                .map_err(|e| format!("removing the old {}: {e}", self.data.display()))?;
        }
        fs::create_dir(&self.data).map_err(|e| format!("creating {}: {e}", self.data.display()))?;
        fs::set_permissions(&self.data, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("chmod {}: {e}", self.data.display()))?;

        // initdb reads the superuser's password from a file, which the server
        // user must be able to read; it lives only until initdb returns.
        let mut pwfile = tempfile::NamedTempFile::new_in(&self.base)
            .map_err(|e| format!("creating a password file in {}: {e}", self.base.display()))?;
        writeln!(pwfile, "{TEST_PASSWORD}")
            .map_err(|e| format!("writing the password file: {e}"))?;
        if let Some(user) = &self.user {
            make_traversable(&self.base)?;
            for path in [self.data.as_path(), pwfile.path()] {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                    .map_err(|e| format!("chown {} {}: {e}", user.name, path.display()))?;
            }
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args(["-U", ROLE, "--encoding=UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.path().display()))
            .output()
            .map_err(|e| format!("running {}/initdb: {e}", self.bin.display()))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed in {}:\n{}{}",
                self.data.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// Writes the settings for this start and runs `pg_ctl start`.
    ///
    /// The settings go in a file of their own, included from
    /// `postgresql.conf`, rather than on the `pg_ctl -o` command line, which
    /// passes through a shell and would need the paths quoted for it.
    fn start_on(&self, port: u16) -> Result<(), String> {
        let include = "include_if_exists = 'ferry-test.conf'\n";
        let conf = self.data.join("postgresql.conf");
        let current =
            fs::read_to_string(&conf).map_err(|e| format!("reading {}: {e}", conf.display()))?;
        if !current.contains(include) {
            fs::write(&conf, current + include)
                .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        }
        // The socket path, with `/.s.PGSQL.NNNNN`, must fit in sun_path (108
        // bytes); a deeper checkout gets TCP only, which is all we use.
        let data = self.data.display().to_string();
        let socket_dir = if data.len() <= 90 {
            data.replace('\'', "''")
        } else {
            String::new()
        };
        let settings = format!(
            "# Written by tests/it/util/pg.rs before every start.\n\
             port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{socket_dir}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             wal_level = minimal\n\
             max_wal_senders = 0\n\
             TimeZone = 'UTC'\n\
             log_timezone = 'UTC'\n"
        );
        let settings_file = self.data.join("ferry-test.conf");
        fs::write(&settings_file, settings)
            .map_err(|e| format!("writing {}: {e}", settings_file.display()))?;

        let log = self.data.join("server.log");
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60"])
            .output()
            .map_err(|e| format!("running {}/pg_ctl: {e}", self.bin.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start failed (data directory {}):\n{}{}{}",
            self.data.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        ))
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .output()
            .map_err(|e| format!("running pg_ctl {args:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A command for one of PostgreSQL's programs, run as the server user.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut runuser = Command::new("runuser");
                runuser.args(["-u", &user.name, "--"]).arg(program);
                runuser
            }
            None => Command::new(program),
        };
        // initdb and pg_ctl look up their working directory; the server user
        // may not be allowed into ours.
        command.current_dir(&self.base);
        command
    }

    /// The last lines of the server log, for failure messages.
    fn log_tail(&self) -> String {
        let path = self.data.join("server.log");
        let mut text = String::new();
        if let Ok(mut file) = File::open(&path) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(len.saturating_sub(8192)));
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("\n--- tail of {} ---\n{tail}\n---", path.display())
    }
}

/// Opens (creating) `path` and takes `lock` on it, waiting as long as it takes.
fn lock_file(path: &Path, lock: fn(&File) -> std::io::Result<()>) -> Result<File, String> {
    let file = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    lock(&file).map_err(|e| format!("locking {}: {e}", path.display()))?;
    Ok(file)
}

/// PostgreSQL's bin directory (ferry's own finder, `postgres::server`).
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(bin) = ferry::postgres::server::bin_dir() {
        return Ok(bin);
    }
    Err("no PostgreSQL server found (no initdb in /usr/lib/postgresql/*/bin or pg_config --bindir); \
         install it (`apt-get install postgresql`, or run scripts/test.sh, which does) or set \
         FERRY_TEST_PG=postgresql://user:password@host:port/db to use a running server"
        .to_owned())
}

/// The user to run the server as: `None` when we are not root; otherwise
/// `postgres`, or a `ferrytest` system user created on first need.
fn server_user() -> Result<Option<OsUser>, String> {
    if id(&["-u"])? != 0 {
        return Ok(None);
    }
    let name = if id(&["-u", "postgres"]).is_ok() {
        "postgres"
    } else {
        if id(&["-u", "ferrytest"]).is_err() {
            let out = Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home"])
                .args([
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "ferrytest",
                ])
                .output()
                .map_err(|e| format!("running useradd: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "running as root, no `postgres` user, and creating `ferrytest` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        "ferrytest"
    };
    Ok(Some(OsUser {
        name: name.to_owned(),
        uid: id(&["-u", name])?,
        gid: id(&["-g", name])?,
    }))
}

/// `id ARGS` as a number.
fn id(args: &[&str]) -> Result<u32, String> {
    let out = Command::new("id")
        .args(args)
        .output()
        .map_err(|e| format!("running id: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse() {
        Ok(n) if out.status.success() => Ok(n),
        _ => Err(format!(
            "id {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Lets other users pass through `dir` and each of its ancestors (o+x), so
/// the server user can reach its data directory inside a root-owned checkout.
fn make_traversable(dir: &Path) -> Result<(), String> {
    for dir in dir.ancestors().filter(|d| !d.as_os_str().is_empty()) {
        let mode = fs::metadata(dir)
            .map_err(|e| format!("stat {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            eprintln!(
                "ferry-test-pg: chmod o+x {} so the server user can reach its data",
                dir.display()
            );
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o001))
                .map_err(|e| format!("chmod o+x {}: {e}", dir.display()))?;
        }
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free port on 127.0.0.1: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names_are_prefixed_sanitized_and_bounded() {
        assert_eq!(
            db_name("migrate::FlashCase round-trip"),
            "ferry_test_migrate__flashcase_round_trip"
        );
        let long = db_name(&"x".repeat(100));
        assert_eq!(long.len(), 63);
        assert_ne!(long, db_name(&"x".repeat(101)), "long names stay distinct");
    }

    #[test]
    fn urls_recombine_with_other_databases() {
        let s = split_url("postgresql://u:p@h:5/admin?sslmode=disable").unwrap();
        assert_eq!(s.admin_url(), "postgresql://u:p@h:5/admin?sslmode=disable");
        assert_eq!(
            s.url_for(Some("t")),
            "postgresql://u:p@h:5/t?sslmode=disable"
        );
        let s = split_url("postgres://h").unwrap();
        assert_eq!(s.admin_url(), "postgres://h");
        assert_eq!(s.url_for(Some("t")), "postgres://h/t");
        assert!(split_url("host=h dbname=x").is_err());
    }

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgresql://u:secret@h:5/db"),
            "postgresql://u:***@h:5/db"
        );
        assert_eq!(redact("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(redact("postgresql://h/db?x=a@b"), "postgresql://h/db?x=a@b");
    }
}
