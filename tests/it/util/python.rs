//! Python for the tests that run the FlashCase app in `fixtures/alembic_app`:
//! its Alembic migrations make the PostgreSQL schema users migrate into
//! (`ferry migrate --schema existing`), and its `check_data.py` reads the
//! loaded data back through the app's own SQLModel models.
//!
//! [`venv`] makes a virtual environment with the app's pinned packages
//! (`fixtures/alembic_app/requirements.txt`, from PyPI) once, under
//! `target/ferry-pyenv`, and later test processes and runs reuse it. A file
//! lock (`target/ferry-pyenv.lock`) serialises the check-then-build across
//! processes; a stamp inside the venv records the interpreter and the
//! requirements it was built from, and the venv is built again from scratch
//! when either changes or an earlier build did not finish.
//!
//! [`framework_venv`] does the same for the framework matrix
//! (`fixtures/frameworks/requirements.txt`: Django, SQLAlchemy, Alembic,
//! SQLModel, psycopg 3) under `target/ferry-fwenv`.
//!
//! The interpreter is `/usr/bin/python3` when it exists (the system one: a
//! pyenv shim earlier on `PATH` may pick another version per directory), else
//! `python3` from `PATH`; it must be 3.11 or newer (`check_data.py` relies on
//! 3.11's `datetime.fromisoformat`). When its `venv`/`ensurepip` modules are
//! missing, as on a Debian system without `python3-venv`, that package is
//! installed with apt-get.
//!
//! Nothing here skips a test: a venv that cannot be built, a pip that cannot
//! reach PyPI or a migration that fails is a panic with the command's output.

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Bumped when the way the venv is built changes, so old venvs are rebuilt.
const STAMP_FORMAT: &str = "ferry-pyenv 1";

/// What one Python run did.
pub struct Output {
    /// The program and its arguments, for failure messages.
    pub command: String,
    /// The exit code; 128 + the signal number if a signal ended it, -1 when
    /// it was killed for running too long.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics unless the run exited 0, showing everything it printed.
    pub fn assert_success(&self) -> &Self {
        if self.code != 0 {
            panic!("command failed with exit code {}\n{self}", self.code);
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "exit code: {}", self.code)?;
        writeln!(f, "---- stdout ----\n{}", self.stdout.trim_end())?;
        writeln!(f, "---- stderr ----\n{}", self.stderr.trim_end())?;
        write!(f, "----------------")
    }
}

/// `fixtures/alembic_app`: the FlashCase app, its Alembic migrations and checks.
pub fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/alembic_app")
}

/// `fixtures/flashcase.db`: the SQLite database the app's models describe.
pub fn flashcase_db() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/flashcase.db")
}

/// What one cached venv is built from: where it lives under `target/`, the
/// pinned requirements it installs and a probe that imports them.
struct Spec {
    /// Directory name under `target/`; the lock is `NAME.lock` beside it.
    name: &'static str,
    /// The requirements file, relative to the checkout.
    requirements: &'static str,
    /// Python code run in the finished venv; prints the versions it found.
    probe: &'static str,
}

const FLASHCASE: Spec = Spec {
    name: "ferry-pyenv",
    requirements: "fixtures/alembic_app/requirements.txt",
    probe: "import alembic, sqlmodel, sqlalchemy, psycopg2; \
            print('alembic', alembic.__version__, 'sqlmodel', sqlmodel.__version__, \
            'SQLAlchemy', sqlalchemy.__version__, 'psycopg2', psycopg2.__version__)",
};

/// The framework matrix (`fixtures/frameworks`): Django, SQLAlchemy, Alembic,
/// SQLModel and psycopg 3.
const FRAMEWORKS: Spec = Spec {
    name: "ferry-fwenv",
    requirements: "fixtures/frameworks/requirements.txt",
    probe: "import django, sqlalchemy, alembic, sqlmodel, psycopg; \
            print('Django', django.__version__, 'SQLAlchemy', sqlalchemy.__version__, \
            'alembic', alembic.__version__, 'sqlmodel', sqlmodel.__version__, \
            'psycopg', psycopg.__version__)",
};

static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static FRAMEWORK_VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The virtual environment with the app's pinned packages, built on first
/// use (see the module docs); returns its directory (`bin/python` inside).
///
/// # Panics
///
/// When it cannot be built; the message says why and shows the output. The
/// failure is remembered, so later callers in this process fail at once.
pub fn venv() -> PathBuf {
    match VENV.get_or_init(|| build_or_reuse(&FLASHCASE)) {
        Ok(dir) => dir.clone(),
        Err(why) => panic!("Python venv for fixtures/alembic_app unavailable: {why}"),
    }
}

/// The venv of the framework matrix (`fixtures/frameworks/requirements.txt`
/// into `target/ferry-fwenv`), built and cached like [`venv`].
///
/// # Panics
///
/// When it cannot be built, with the installer's output.
pub fn framework_venv() -> PathBuf {
    match FRAMEWORK_VENV.get_or_init(|| build_or_reuse(&FRAMEWORKS)) {
        Ok(dir) => dir.clone(),
        Err(why) => panic!("Python venv for fixtures/frameworks unavailable: {why}"),
    }
}

/// Runs `VENV/bin/python ARGS` in `cwd` with `envs` set, and returns what it
/// did without judging it (see [`Output::assert_success`]).
///
/// The child gets no stdin and none of the caller's `DATABASE_URL`, `PG*`,
/// `FERRY_*`, `PYTHON*` or `VIRTUAL_ENV` variables, so a developer's shell
/// cannot change what a test sees; it gets `PYTHONDONTWRITEBYTECODE=1`, so no
/// `__pycache__` lands in the fixture directory. It is killed after
/// `FERRY_TEST_TIMEOUT_SECS` (default 300), which is a panic.
pub fn run_python(venv: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
    run_program(&venv.join("bin/python"), args, cwd, clean_env, envs)
}

/// Runs `program ARGS` in `cwd`, its environment cleaned by `clean` and
/// `envs` set on top, killed after `FERRY_TEST_TIMEOUT_SECS`; the caller
/// judges the result. `runtimes` runs Ruby, Node and sqlx apps this way.
pub fn run_program(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    clean: fn(&mut Command),
    envs: &[(&str, &str)],
) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd);
    clean(&mut command);
    command.envs(envs.iter().copied());
    let text = format!(
        "(cd {} && {} {})",
        cwd.display(),
        program.display(),
        args.join(" ")
    );
    run(command, text, timeout())
}

/// Runs `alembic upgrade head` in `fixtures/alembic_app` against `db_url`
/// (a `postgresql://` URL as [`super::pg::TestDb`] has; see
/// [`sqlalchemy_url`]).
///
/// # Panics
///
/// When the migration fails, with Alembic's output.
pub fn alembic_upgrade_head(db_url: &str) {
    alembic(db_url, &["upgrade", "head"]).assert_success();
}

/// Runs `alembic ARGS` in `fixtures/alembic_app` with `DATABASE_URL` set to
/// `db_url` in SQLAlchemy's form; the caller judges the result.
pub fn alembic(db_url: &str, args: &[&str]) -> Output {
    let url = sqlalchemy_url(db_url);
    let mut full = vec!["-m", "alembic"];
    full.extend_from_slice(args);
    run_python(&venv(), &full, &app_dir(), &[("DATABASE_URL", &url)])
}

/// Runs `check_data.py` (see its docstring) against `db_url` with
/// `fixtures/flashcase.db` as the source the data came from. Exit code 0
/// means every check passed; the caller judges the result.
pub fn check_data(db_url: &str) -> Output {
    let url = sqlalchemy_url(db_url);
    let db = flashcase_db();
    let db = db.to_str().expect("the fixture path is UTF-8");
    run_python(
        &venv(),
        &["check_data.py", db],
        &app_dir(),
        &[("DATABASE_URL", &url)],
    )
}

/// `postgresql://…` or `postgres://…` as SQLAlchemy's
/// `postgresql+psycopg2://…`; a URL that already names a driver is kept.
///
/// # Panics
///
/// On anything but a PostgreSQL URL (a libpq keyword string, say).
pub fn sqlalchemy_url(url: &str) -> String {
    if url.starts_with("postgresql+") {
        return url.to_owned();
    }
    for scheme in ["postgresql://", "postgres://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            return format!("postgresql+psycopg2://{rest}");
        }
    }
    panic!("expected a postgresql:// URL for SQLAlchemy, got {url:?}");
}

/// Removes the variables [`run_python`] promises not to pass on.
fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("FERRY_")
            || text.starts_with("PG")
            || text.starts_with("PYTHON")
            || text.starts_with("PIP_")
            || text == "DATABASE_URL"
            || text == "VIRTUAL_ENV"
        {
            command.env_remove(&name);
        }
    }
    command
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
}

fn build_or_reuse(spec: &Spec) -> Result<PathBuf, String> {
    // target/tmp is CARGO_TARGET_TMPDIR; its parent honours CARGO_TARGET_DIR.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent");
    fs::create_dir_all(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    let dir = target.join(spec.name);
    let lock_path = target.join(format!("{}.lock", spec.name));
    let lock = File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;

    let python = interpreter()?;
    let version = python_version(&python)?;
    let requirements_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(spec.requirements);
    let requirements = fs::read_to_string(&requirements_path)
        .map_err(|e| format!("reading {}: {e}", requirements_path.display()))?;
    let stamp = format!(
        "{STAMP_FORMAT}\npython: {} {version}\n{requirements}",
        python.display()
    );
    let stamp_file = dir.join("ferry-stamp");
    if fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        return Ok(dir);
    }

    eprintln!(
        "{}: building {} with {} ({version}) and {}",
        spec.name,
        dir.display(),
        python.display(),
        requirements_path.display()
    );
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    ensure_venv_module(&python)?;
    let dir_text = dir.to_str().ok_or("target dir is not UTF-8")?;
    let mut create = Command::new(&python);
    create.args(["-m", "venv", dir_text]);
    clean_env(&mut create);
    checked(create, format!("{} -m venv {dir_text}", python.display()))?;

    let venv_python = dir.join("bin/python");
    let req = requirements_path.to_str().ok_or("checkout path is not UTF-8")?;
    let mut install = Command::new(&venv_python);
    install.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "-r",
        req,
    ]);
    clean_env(&mut install);
    checked(
        install,
        format!("{} -m pip install -r {req}", venv_python.display()),
    )?;

    let mut probe = Command::new(&venv_python);
    probe.args(["-c", spec.probe]);
    clean_env(&mut probe);
    let out = checked(
        probe,
        format!("{} -c {:?}", venv_python.display(), spec.probe),
    )?;
    eprintln!("{}: ready: {}", spec.name, out.stdout.trim());

    fs::write(&stamp_file, &stamp)
        .map_err(|e| format!("writing {}: {e}", stamp_file.display()))?;
    Ok(dir)
    // `lock` drops here.
}

/// `/usr/bin/python3` if it exists, else `python3` from `PATH`.
fn interpreter() -> Result<PathBuf, String> {
    let system = Path::new("/usr/bin/python3");
    if system.exists() {
        return Ok(system.to_owned());
    }
    let out = Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .map_err(|e| format!("running sh: {e}"))?;
    let found = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || found.is_empty() {
        return Err("no python3: neither /usr/bin/python3 nor python3 on PATH; install it \
                    (`apt-get install python3 python3-venv`)"
            .to_owned());
    }
    Ok(PathBuf::from(found))
}

/// `X.Y.Z` of `python`, which must be 3.11 or newer.
fn python_version(python: &Path) -> Result<String, String> {
    let mut command = Command::new(python);
    command.args([
        "-c",
        "import sys; print('%d.%d.%d' % sys.version_info[:3])",
    ]);
    clean_env(&mut command);
    let out = checked(command, format!("{} --version", python.display()))?;
    let version = out.stdout.trim().to_owned();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (3, 11) {
        return Err(format!(
            "{} is Python {version}; the Python fixtures need 3.11 or newer",
            python.display()
        ));
    }
    Ok(version)
}

/// Installs Debian's `python3-venv` when `python` lacks `venv` or `ensurepip`
/// (Debian splits them out of `python3`).
fn ensure_venv_module(python: &Path) -> Result<(), String> {
    let has_modules = || {
        let mut probe = Command::new(python);
        probe.args(["-c", "import venv, ensurepip"]);
        clean_env(&mut probe);
        probe
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_modules() {
        return Ok(());
    }
    eprintln!(
        "ferry-pyenv: {} has no venv/ensurepip module; installing python3-venv",
        python.display()
    );
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        checked(command, format!("apt-get {}", args.join(" ")))
    };
    // The package lists may be missing or stale on a fresh machine: update
    // and try again once.
    if apt(&["install", "-y", "-q", "python3-venv"]).is_err() {
        apt(&["update", "-q"])?;
        apt(&["install", "-y", "-q", "python3-venv"])?;
    }
    if !has_modules() {
        return Err(format!(
            "installed python3-venv, but {} still cannot import venv and ensurepip",
            python.display()
        ));
    }
    Ok(())
}

/// Runs `command` with the venv-building budget; an error unless it exits 0.
fn checked(command: Command, text: String) -> Result<Output, String> {
    let out = run(command, text, Duration::from_secs(900));
    if out.code == 0 {
        Ok(out)
    } else {
        Err(format!("command failed\n{out}"))
    }
}

/// Runs `command` without stdin, reading both pipes, and panics when it
/// outlives `limit` (killed, with what it printed). `runtimes` runs Ruby,
/// npm and Node through this too.
pub fn run(mut command: Command, text: String, limit: Duration) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {text}: {e}"));
    // Read both pipes while the child runs, so a full pipe never blocks it.
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for {text}: {e}"),
        }
    };
    let output = Output {
        command: text,
        code: status.map_or(-1, |s| {
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        }),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    if status.is_none() {
        panic!("did not finish within {limit:?} and was killed\n{output}");
    }
    output
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `FERRY_TEST_TIMEOUT_SECS`, default 300: the budget of one test command.
pub fn timeout() -> Duration {
    let secs = std::env::var("FERRY_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_psycopg2_driver() {
        assert_eq!(
            sqlalchemy_url("postgresql://u:p@h:5/db?sslmode=disable"),
            "postgresql+psycopg2://u:p@h:5/db?sslmode=disable"
        );
        assert_eq!(
            sqlalchemy_url("postgres://h/db"),
            "postgresql+psycopg2://h/db"
        );
        assert_eq!(
            sqlalchemy_url("postgresql+psycopg://h/db"),
            "postgresql+psycopg://h/db"
        );
    }
}
