//! A dedicated, short-lived PostgreSQL cluster for the tests that change
//! the server itself: TLS on (`tls.rs`), a restart in the middle of a load
//! (`faults.rs`), or run another server version (`pg_versions.rs`). The shared cluster of [`super::pg`] must not see those
//! changes, since other tests run against it at the same time.
//!
//! Started like the shared one (`initdb`, `pg_ctl`; as the `postgres` OS
//! user, or `ferrytest`, when the tests run as root), in a fresh directory
//! under `CARGO_TARGET_TMPDIR`, on a free port of 127.0.0.1, superuser
//! `ferry` with [`super::pg::TEST_PASSWORD`] over scram-sha-256. Stopped
//! (`-m immediate`) and removed when dropped. As with the shared cluster, a
//! cluster that cannot be started is a test failure, never a skip.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::pg::TEST_PASSWORD;

pub struct Cluster {
    /// Holds the data directory; removed on drop.
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub data: PathBuf,
    bin: PathBuf,
    user: Option<(String, u32, u32)>,
    pub port: u16,
}

impl Cluster {
    /// `initdb` a new cluster; `configure` may write files into the data
    /// directory (certificates, `pg_hba.conf`) and returns extra
    /// `postgresql.conf` lines; then start it.
    ///
    /// # Panics
    ///
    /// When any step fails, with its output.
    pub fn start(name: &str, configure: impl FnOnce(&Cluster) -> String) -> Cluster {
        Cluster::start_from(name, bin_dir(), configure)
    }

    /// As [`Cluster::start`], with the server binaries (`initdb`, `pg_ctl`,
    /// `postgres`) of `bin`: another PostgreSQL version than Debian's.
    pub fn start_from(name: &str, bin: PathBuf, configure: impl FnOnce(&Cluster) -> String) -> Cluster {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(root).unwrap();
        let dir = tempfile::Builder::new().prefix(&format!("pg-{name}-")).tempdir_in(root).unwrap();
        let base = dir.path().to_path_buf();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let user = server_user();
        if let Some((name, _, _)) = &user {
            make_traversable(&base, name);
        }
        let mut cluster = Cluster { data: base.join("data"), base, _dir: dir, bin, user, port: 0 };
        cluster.init();
        let extra = configure(&cluster);
        cluster.port = free_port();
        let conf = format!(
            "\n# tests/it/util/cluster.rs\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nTimeZone = 'UTC'\n{extra}\n",
            cluster.port
        );
        let mut f = fs::OpenOptions::new().append(true).open(cluster.data.join("postgresql.conf")).unwrap();
        f.write_all(conf.as_bytes()).unwrap();
        cluster.pg_ctl(&["start", "-w", "-t", "60", "-l", &cluster.log().display().to_string()]);
        cluster
    }

    /// `postgresql://ferry:PASSWORD@HOST:PORT/DB`.
    pub fn url(&self, host: &str, db: &str) -> String {
        format!("postgresql://ferry:{TEST_PASSWORD}@{host}:{}/{db}", self.port)
    }

    /// A client on database `db` over plain TCP (only where `pg_hba.conf` allows it).
    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url("127.0.0.1", db), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to the {} cluster: {e}{}", self.base.display(), self.log_tail()))
    }

    /// Writes `contents` to `name` in the data directory, owned by the
    /// server user with mode `mode` (the server refuses a key others may read).
    pub fn write_owned(&self, name: &str, contents: &[u8], mode: u32) {
        let path = self.data.join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        if let Some((_, uid, gid)) = &self.user {
            std::os::unix::fs::chown(&path, Some(*uid), Some(*gid)).unwrap();
        }
    }

    /// `pg_ctl restart -m fast`: every session is ended at once.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60", "-l", &self.log().display().to_string()]);
    }

    pub fn log(&self) -> PathBuf {
        self.base.join("server.log")
    }

    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("\n--- server log ---\n{}", lines[lines.len().saturating_sub(20)..].join("\n"))
    }

    fn init(&self) {
        fs::create_dir(&self.data).unwrap();
        fs::set_permissions(&self.data, fs::Permissions::from_mode(0o700)).unwrap();
        let pwfile = self.base.join("pwfile");
        fs::write(&pwfile, format!("{TEST_PASSWORD}\n")).unwrap();
        fs::write(self.log(), "").unwrap();
        if let Some((_, uid, gid)) = &self.user {
            for p in [&self.data, &pwfile, &self.log()] {
                std::os::unix::fs::chown(p, Some(*uid), Some(*gid)).unwrap();
            }
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args(["-U", "ferry", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = fs::remove_file(pwfile);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = self.command("pg_ctl").arg("-D").arg(&self.data).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed:\n{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut c = match &self.user {
            Some((name, _, _)) => {
                let mut c = Command::new("runuser");
                c.args(["-u", name, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        c.current_dir(&self.base);
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self.command("pg_ctl").arg("-D").arg(&self.data).args(["stop", "-m", "immediate", "-w"]).output();
        }
    }
}

/// The newest installed server's programs (ferry's own finder).
fn bin_dir() -> PathBuf {
    ferry::postgres::server::bin_dir().expect("no PostgreSQL server binaries (initdb) found")
}

/// As root: the `postgres` user, else `ferrytest` (which the shared
/// cluster's harness creates when there is no `postgres`).
fn server_user() -> Option<(String, u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id(&["-u"]) != Some(0) {
        return None;
    }
    // The shared cluster is started first, which creates `ferrytest` if need be.
    let _ = super::pg::server();
    for name in ["postgres", "ferrytest"] {
        if let (Some(uid), Some(gid)) = (id(&["-u", name]), id(&["-g", name])) {
            return Some((name.to_owned(), uid, gid));
        }
    }
    panic!("running as root with neither a `postgres` nor a `ferrytest` user to run PostgreSQL as");
}

fn make_traversable(dir: &Path, user: &str) {
    for d in dir.ancestors().filter(|d| !d.as_os_str().is_empty()) {
        let mode = fs::metadata(d).unwrap().permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o001))
                .unwrap_or_else(|e| panic!("chmod o+x {} for {user}: {e}", d.display()));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
