//! `--target-scratch`: a rehearsal on a laptop. Where PostgreSQL's server
//! binaries are installed, start a throwaway local cluster, optionally apply
//! the application's schema (an SQL file, or a command such as
//! `alembic upgrade head` run with `DATABASE_URL` pointing at it), let the
//! migration run into it, and remove the cluster afterwards — also when the
//! run fails.
//!
//! PostgreSQL refuses to run as root; when ferry runs as root the cluster
//! is started as the `postgres` user (created by Debian's package).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

pub struct ScratchCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    pub url: String,
}

impl ScratchCluster {
    pub fn start() -> anyhow::Result<ScratchCluster> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("ferry-scratch-").tempdir().context("creating a scratch directory")?;
        let user = if is_root() { Some("postgres".to_string()) } else { None };
        let data = dir.path().join("data");
        if let Some(u) = &user {
            // The server user must be able to reach and own its directory.
            run(Command::new("chown").arg(u).arg(dir.path()), "chown of the scratch directory")?;
            run(Command::new("chmod").arg("0755").arg(dir.path()), "chmod of the scratch directory")?;
        }
        run(
            as_user(&user, &bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "ferry", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]),
            "initdb",
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c wal_level=minimal -c max_wal_senders=0",
            dir.path().display()
        );
        let cluster = ScratchCluster {
            url: format!("postgresql://ferry@127.0.0.1:{port}/scratch"),
            dir,
            bin,
            user,
        };
        run(
            as_user(&cluster.user, &cluster.bin.join("pg_ctl"))
                .arg("start")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts]),
            "pg_ctl start",
        )?;
        let admin = format!("postgresql://ferry@127.0.0.1:{port}/postgres");
        let rt = super::runtime(1)?;
        rt.block_on(async {
            let t = super::Target::resolve(Some(&admin))?;
            let c = t.connect().await?;
            c.batch_execute("CREATE DATABASE scratch")
                .await
                .map_err(|e| super::Error::server("creating the scratch database", &e))?;
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(cluster)
    }

    /// Apply the application's schema before the load.
    pub fn apply_schema(&self, sql_file: Option<&Path>, command: Option<&str>) -> anyhow::Result<()> {
        if let Some(f) = sql_file {
            let sql = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let rt = super::runtime(1)?;
            rt.block_on(async {
                let t = super::Target::resolve(Some(&self.url))?;
                let c = t.connect().await?;
                c.batch_execute(&sql)
                    .await
                    .map_err(|e| super::Error::server(format!("applying {}", f.display()), &e))?;
                Ok::<_, anyhow::Error>(())
            })?;
        }
        if let Some(cmd) = command {
            let status = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("DATABASE_URL", &self.url)
                .stdin(Stdio::null())
                .status()
                .with_context(|| format!("running {cmd:?}"))?;
            if !status.success() {
                bail!("the schema command {cmd:?} failed ({status}) against the scratch database");
            }
        }
        Ok(())
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_user(&self.user, &self.bin.join("pg_ctl"))
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // TempDir removes the directory.
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_user(user: &Option<String>, program: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed for the scratch cluster: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The newest installed server's programs (`postgres::server::bin_dir`).
fn bin_dir() -> anyhow::Result<PathBuf> {
    match super::server::bin_dir() {
        Some(b) => Ok(b),
        None => bail!(
            "--target-scratch needs PostgreSQL's server binaries (initdb, pg_ctl); install them (Debian: apt-get install postgresql)"
        ),
    }
}
