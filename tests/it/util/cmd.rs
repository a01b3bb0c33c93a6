//! Running the built `ferry` binary the way a user does.
//!
//! CLI tests go through the real executable (Cargo builds it for integration
//! tests and names it in `CARGO_BIN_EXE_ferry`), so argument parsing, exit
//! codes and the stdout/stderr split are tested as shipped. The child gets no
//! stdin and none of the caller's `FERRY_*`, `PG*` or `DATABASE_URL`
//! variables: a developer's shell must not change what a test sees. Tests pass
//! the environment they mean with [`ferry_env`].
//!
//! A run that outlives `FERRY_TEST_TIMEOUT_SECS` (default 300) is killed and
//! the test fails with what it printed so far, instead of hanging CI.

use std::fmt;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What one run of `ferry` did.
pub struct Output {
    /// The arguments it was given, for failure messages.
    pub args: Vec<String>,
    /// The exit code; 128 + the signal number if a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `ferry ARGS` with a clean environment; see the module docs.
pub fn ferry(args: &[&str]) -> Output {
    ferry_env(args, &[])
}

/// Runs `ferry ARGS` with `envs` set on top of a clean environment.
pub fn ferry_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    spawn(args, envs).finish()
}

/// A `ferry` started with [`spawn`] and still running in the background,
/// for tests that act while it runs (kill it, watch the server).
pub struct Running {
    pub child: Child,
    /// The arguments it was given, for failure messages.
    pub args: Vec<String>,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
}

/// Starts `ferry ARGS` with `envs` set on top of a clean environment, without
/// waiting for it.
pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("FERRY_") || text.starts_with("PG") || text == "DATABASE_URL" {
            command.env_remove(&name);
        }
    }
    command.envs(envs.iter().copied());

    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", env!("CARGO_BIN_EXE_ferry")));
    // Read both pipes while the child runs, so a full pipe never blocks it.
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));
    Running {
        child,
        args,
        stdout,
        stderr,
    }
}

impl Running {
    /// Send `signal` (`INT`, `TERM`, …) and go on.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill: {e}"));
        assert!(ok.success(), "kill -{signal} {} failed", self.child.id());
    }

    /// Send `signal`, wait for the exit, and say how long the stop took.
    pub fn signal_and_wait(self, signal: &str) -> (Output, Duration) {
        self.signal(signal);
        let t0 = Instant::now();
        let out = self.finish();
        (out, t0.elapsed())
    }

    /// Whether it has not exited yet.
    pub fn running(&mut self) -> bool {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("waiting for ferry: {e}"))
            .is_none()
    }

    /// Waits for it to exit (killed and a panic after
    /// `FERRY_TEST_TIMEOUT_SECS`) and returns what it did.
    pub fn finish(self) -> Output {
        let Running {
            mut child,
            args,
            stdout,
            stderr,
        } = self;
        let deadline = Instant::now() + timeout();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Err(e) => panic!("waiting for ferry: {e}"),
            }
        };
        let output = Output {
            args,
            code: status.map_or(-1, |s| {
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
            }),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        };
        if status.is_none() {
            panic!(
                "ferry did not finish within {:?} and was killed\n{output}",
                timeout()
            );
        }
        output
    }
}

/// Panics unless `out` exited with `expected`, showing everything it printed.
pub fn assert_code(out: &Output, expected: i32) {
    if out.code != expected {
        panic!("expected exit code {expected}, got {}\n{out}", out.code);
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: ferry {}", self.args.join(" "))?;
        writeln!(f, "exit code: {}", self.code)?;
        writeln!(f, "---- stdout ----\n{}", self.stdout.trim_end())?;
        writeln!(f, "---- stderr ----\n{}", self.stderr.trim_end())?;
        write!(f, "----------------")
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn timeout() -> Duration {
    let secs = std::env::var("FERRY_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(300))
}

/// Waits until the run journal in `state` records `table` as committed,
/// failing when `child` (the ferry writing it) ends first or `limit` passes.
pub fn wait_committed(state: &std::path::Path, table: &str, child: &mut std::process::Child, limit: std::time::Duration) {
    let t0 = std::time::Instant::now();
    loop {
        let done = journals(state)
            .iter()
            .any(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains(&format!("\"{table}\""))));
        if done {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "ferry ended before {table} was committed");
        assert!(t0.elapsed() < limit, "{table} was never committed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The run journals in a state directory: not the temporary file a
/// journal is written through, whose content counts only once renamed.
pub fn journals(state: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(state)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("run-") && n.ends_with(".json")
        })
        .map(|e| e.path())
        .collect()
}
