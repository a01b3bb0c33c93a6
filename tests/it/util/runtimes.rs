//! Runtimes for the framework matrix (issue 13): the apps under
//! `fixtures/frameworks/<framework>/` run as their users run them, and
//! `util::framework` drives them as separate processes. Python (Django,
//! SQLAlchemy) runs in the venv of `util::python`; here:
//!
//! - Ruby with ActiveRecord, its SQLite and PostgreSQL drivers: Debian's
//!   `ruby-activerecord`, `ruby-sqlite3`, `ruby-pg`, installed with apt-get
//!   when `ruby` cannot load them ([`ruby`]).
//! - Node packages from npm, installed from the app's `package-lock.json`
//!   with `npm ci` once under `target/ferry-node-<app>` and reused while the
//!   lock file and the Node version stay the same ([`node_modules`]).
//! - Rust (sqlx): the app is a cargo project of its own, built once per
//!   process with cargo ([`sqlx_app`]), which caches and locks its target
//!   directory itself.
//!
//! npm installs go through [`cached`]: a file lock serialises the
//! check-then-build across test processes, and a stamp written last records
//! what was built, so an interrupted build is redone; apt-get runs under a
//! lock of its own (`target/ferry-apt.lock`). The children get none
//! of the caller's `FERRY_*`, `PG*`, `DATABASE_URL` (ActiveRecord would merge
//! it into every connection), `RUBY*`, `GEM_*`, `BUNDLE_*` or `NODE_*`
//! variables. Nothing here skips: an install or build that fails is a panic
//! with the installer's output.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::python::{self, Output, run, timeout};

/// Budget for one install step (apt-get, npm ci).
const INSTALL_LIMIT: Duration = Duration::from_secs(900);

/// The Debian packages the ActiveRecord app needs.
const RUBY_PACKAGES: [&str; 4] = ["ruby", "ruby-activerecord", "ruby-sqlite3", "ruby-pg"];

/// `fixtures/frameworks/<name>`.
pub fn app_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/frameworks")
        .join(name)
}

/// `target/` (the parent of `CARGO_TARGET_TMPDIR`, so it honours
/// `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_owned()
}

/// `target/<name>`, built by `build` unless a finished build with the same
/// `stamp` is there. `build` gets the directory, empty.
pub fn cached(
    name: &str,
    stamp: &str,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let target = target_dir();
    fs::create_dir_all(&target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    let dir = target.join(name);
    let lock_path = target.join(format!("{name}.lock"));
    let lock =
        File::create(&lock_path).map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let stamp_file = dir.join("ferry-stamp");
    if fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp) {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    build(&dir)?;
    fs::write(&stamp_file, stamp).map_err(|e| format!("writing {}: {e}", stamp_file.display()))?;
    Ok(dir)
    // `lock` drops here.
}

/// Removes the variables the module docs promise not to pass on.
fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if [
            "FERRY_", "PG", "RUBY", "GEM_", "BUNDLE_", "NODE_", "NPM_", "npm_",
        ]
        .iter()
        .any(|p| text.starts_with(p))
            || text == "DATABASE_URL"
        {
            command.env_remove(&name);
        }
    }
}

/// Runs `command` with the install budget; an error with its output unless
/// it exits 0.
fn checked(mut command: Command, text: String) -> Result<Output, String> {
    clean_env(&mut command);
    let out = run(command, text, INSTALL_LIMIT);
    if out.code == 0 {
        Ok(out)
    } else {
        Err(format!("command failed\n{out}"))
    }
}

static RUBY: OnceLock<Result<String, String>> = OnceLock::new();

/// Makes sure `ruby` can load ActiveRecord and both drivers, installing
/// [`RUBY_PACKAGES`] with apt-get when it cannot; returns the versions.
///
/// # Panics
///
/// When the packages cannot be installed or still do not load.
pub fn ruby() -> &'static str {
    match RUBY.get_or_init(ensure_ruby) {
        Ok(versions) => versions,
        Err(why) => panic!("Ruby with ActiveRecord unavailable: {why}"),
    }
}

fn ensure_ruby() -> Result<String, String> {
    let probe = || {
        let mut command = Command::new("ruby");
        command.args([
            "-e",
            "require 'active_record'; require 'sqlite3'; require 'pg'; \
             puts \"ruby #{RUBY_VERSION} activerecord #{ActiveRecord.version} \
             sqlite3 #{SQLite3::VERSION} (SQLite #{SQLite3::SQLITE_VERSION}) pg #{PG::VERSION}\"",
        ]);
        clean_env(&mut command);
        command
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if let Some(versions) = probe() {
        return Ok(versions);
    }
    // apt-get holds dpkg's own lock; this one keeps two test processes from
    // both deciding to install.
    let lock_path = target_dir().join("ferry-apt.lock");
    let lock =
        File::create(&lock_path).map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if let Some(versions) = probe() {
        return Ok(versions);
    }
    eprintln!("ferry-frameworks: installing {}", RUBY_PACKAGES.join(" "));
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        // Wait for another apt-get (a second checkout's tests) instead of failing.
        command
            .args(["-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        checked(command, format!("apt-get {}", args.join(" ")))
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(RUBY_PACKAGES);
    apt(&["update", "-q"])?;
    apt(&install)?;
    probe().ok_or_else(|| {
        format!(
            "installed {}, but `ruby` still cannot load active_record, sqlite3 and pg",
            RUBY_PACKAGES.join(" ")
        )
    })
}

/// Runs `ruby ARGS` in `cwd` with `envs` set (see the module docs for the
/// environment), killed after `FERRY_TEST_TIMEOUT_SECS`; the caller judges
/// the result.
pub fn run_ruby(args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
    ruby();
    let mut command = Command::new("ruby");
    command.args(args).current_dir(cwd);
    clean_env(&mut command);
    command.envs(envs.iter().copied());
    let text = format!("(cd {} && ruby {})", cwd.display(), args.join(" "));
    run(command, text, timeout())
}

/// `target/ferry-node-<app>/node_modules` with the packages of
/// `fixtures/frameworks/<app>/package-lock.json`, installed on first use.
///
/// # Panics
///
/// When `node` or `npm` is missing or `npm ci` fails; the message shows the
/// output.
pub fn node_modules(app: &str) -> PathBuf {
    install_node_modules(app).unwrap_or_else(|why| {
        panic!("npm packages for fixtures/frameworks/{app} unavailable: {why}")
    })
}

fn install_node_modules(app: &str) -> Result<PathBuf, String> {
    let src = app_dir(app);
    let read = |name: &str| {
        let path = src.join(name);
        fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))
    };
    let (manifest, lock) = (read("package.json")?, read("package-lock.json")?);
    let mut version = Command::new("node");
    version.arg("--version");
    let node = checked(version, "node --version".to_owned())
        .map_err(|e| format!("{e}\n(Node.js 20 or newer is needed: apt-get install nodejs)"))?;
    let stamp = format!(
        "ferry-node 1\nnode {}\n{manifest}\n{lock}",
        node.stdout.trim()
    );
    let cache = target_dir().join("ferry-npm-cache");
    let dir = cached(&format!("ferry-node-{app}"), &stamp, |dir| {
        for name in ["package.json", "package-lock.json"] {
            fs::copy(src.join(name), dir.join(name))
                .map_err(|e| format!("copying {name} to {}: {e}", dir.display()))?;
        }
        eprintln!("ferry-frameworks: npm ci in {}", dir.display());
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund", "--cache"])
            .arg(&cache)
            .current_dir(dir);
        checked(npm, format!("(cd {} && npm ci)", dir.display())).map(drop)
    })?;
    Ok(dir.join("node_modules"))
}

/// Runs `node ARGS` in `cwd` with `envs` set and `NODE_PATH` naming the
/// app's installed packages (see [`node_modules`]), killed after
/// `FERRY_TEST_TIMEOUT_SECS`; the caller judges the result.
pub fn run_node(app: &str, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
    let modules = node_modules(app);
    let mut command = Command::new("node");
    command.args(args).current_dir(cwd);
    clean_env(&mut command);
    command
        .env("NODE_PATH", &modules)
        .envs(envs.iter().copied());
    let text = format!(
        "(cd {} && NODE_PATH={} node {})",
        cwd.display(),
        modules.display(),
        args.join(" ")
    );
    run(command, text, timeout())
}

static SQLX_APP: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The executable of `fixtures/frameworks/sqlx`, built with `cargo build
/// --locked --target-dir target/fw-sqlx` on first use in this process;
/// cargo only checks a finished build is fresh. The dev profile, not
/// release: the app handles a few dozen rows, and a cold build of sqlx and
/// tokio takes less than half the CPU time (121 s against 255 s measured).
///
/// # Panics
///
/// When the build fails, with cargo's output.
pub fn sqlx_app() -> &'static Path {
    match SQLX_APP.get_or_init(build_sqlx_app) {
        Ok(path) => path,
        Err(why) => panic!("building fixtures/frameworks/sqlx failed: {why}"),
    }
}

fn build_sqlx_app() -> Result<PathBuf, String> {
    let target = target_dir().join("fw-sqlx");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--locked", "--manifest-path"])
        .arg(app_dir("sqlx").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    let text = format!("{cargo} build --manifest-path fixtures/frameworks/sqlx/Cargo.toml");
    // No budget of ours: a cold build of sqlx on a busy machine
    // takes as long as it takes, and cargo's output tells what it did.
    let out = run(command, text, Duration::from_secs(24 * 3600));
    if out.code != 0 {
        return Err(format!("command failed\n{out}"));
    }
    Ok(target.join("debug/ferry-fw-sqlx"))
}

/// Runs `program ARGS` in `cwd` with `envs` set (the environment as for
/// Ruby and Node), killed after `FERRY_TEST_TIMEOUT_SECS`; the caller judges
/// the result.
pub fn run_program(program: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
    python::run_program(program, args, cwd, clean_env, envs)
}
