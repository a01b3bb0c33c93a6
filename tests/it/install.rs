//! The command line a person expects (issue 14, point 6): ferry installed the
//! way the README says (`cargo install --locked --path .`) into a fresh prefix
//! and run from outside the build tree; `--version` naming the git commit;
//! shell completions and the man page.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::cmd::{assert_code, ferry};
use crate::util::{pg, sqlite};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// `git rev-parse --short HEAD` of the checkout the tests were built from.
fn git_short_head() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(REPO)
        .output()
        .expect("running git (the version test needs the git checkout ferry was built from)");
    assert!(
        out.status.success(),
        "git rev-parse failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The commit `ferry --version` printed: "ferry 0.1.0 (abc1234)" or
/// "ferry 0.1.0 (abc1234, modified)".
fn printed_commit(version_line: &str) -> &str {
    let inside = version_line
        .trim()
        .strip_prefix(&format!("ferry {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version output: {version_line:?}"));
    inside.split(", ").next().unwrap()
}

#[test]
fn version_names_the_git_commit() {
    let out = ferry(&["--version"]);
    assert_code(&out, 0);
    assert_eq!(printed_commit(&out.stdout), git_short_head(), "{out}");
}

#[test]
fn completions_for_every_shell() {
    let commands = [
        "inspect",
        "migrate",
        "plan",
        "verify",
        "restore-keys",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ferry(&["completions", shell]);
        assert_code(&out, 0);
        for name in commands {
            assert!(
                out.stdout.contains(name),
                "{shell} completions lack `{name}`\n{out}"
            );
        }
        assert!(
            out.stdout.contains("report-html"),
            "{shell} completions lack migrate's flags\n{out}"
        );
    }
    // bash is on every test machine: the script must load and register `ferry`.
    let script = ferry(&["completions", "bash"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.bash");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {:?} && complete -p ferry", file))
        .output()
        .expect("running bash");
    let registered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && registered.contains("ferry"),
        "bash could not load the completion script: {registered}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_code(&ferry(&["completions", "tcsh"]), 2);
}

#[test]
fn man_pages_render() {
    for (args, title, must) in [
        (
            vec!["man"],
            "ferry",
            vec![
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "SUBCOMMANDS",
                "ferry-migrate(1)",
                "ferry-plan(1)",
            ],
        ),
        (
            vec!["man", "migrate"],
            "ferry-migrate",
            vec![
                "NAME",
                "SYNOPSIS",
                "OPTIONS",
                "--report-html",
                "--resume",
                "--schema",
            ],
        ),
    ] {
        let out = ferry(&args);
        assert_code(&out, 0);
        assert!(
            out.stdout.contains(&format!("\n.TH {title} 1 ")),
            "not a roff page titled {title}(1):\n{out}"
        );
        let text = render_roff(&out.stdout);
        for section in must {
            assert!(
                text.contains(section),
                "the rendered page of `ferry {}` lacks {section:?}:\n{text}",
                args.join(" ")
            );
        }
    }
    let out = ferry(&["man", "no-such-command"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("no-such-command") && out.stderr.contains("migrate"),
        "{out}"
    );
}

/// Renders roff to plain text with groff (the `man` formatter), as `man -l`
/// would (`-k`: the help text is UTF-8, as `man` passes it through preconv).
/// Groff comes with `man-db`; a machine without it fails here.
fn render_roff(roff: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-P-c", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running groff (Debian package groff-base) to render the man page");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(roff.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "groff: {warnings}"
    );
    // groff marks bold with backspaces when -c is not honoured; strip them.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Where `cargo install` builds: a cache under the test target directory, so
/// a second run recompiles ferry alone, not its dependencies.
fn install_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(REPO).join("target"), PathBuf::from);
    let target = if target.is_absolute() {
        target
    } else {
        Path::new(REPO).join(target)
    };
    target.join("install-cache")
}

#[test]
fn cargo_install_into_a_fresh_prefix_runs_outside_the_build_tree() {
    let prefix = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let started = Instant::now();
    // --offline: the crates are already downloaded (the test build needed them).
    let out = Command::new(&cargo)
        .args(["install", "--offline", "--locked", "--path", REPO, "--root"])
        .arg(prefix.path())
        .env("CARGO_TARGET_DIR", install_cache())
        .output()
        .expect("running cargo install");
    eprintln!("cargo install took {:.1?}", started.elapsed());
    assert!(
        out.status.success(),
        "cargo install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = prefix.path().join("bin/ferry");
    assert!(bin.is_file(), "cargo install left no {bin:?}");

    // Run it as a person would: from a directory that is not the checkout,
    // with none of the test environment's FERRY_/PG variables.
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut command = Command::new(&bin);
        command.args(args).current_dir(work.path());
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            if text.starts_with("FERRY_")
                || text.starts_with("PG")
                || text.starts_with("CARGO")
                || text == "DATABASE_URL"
            {
                command.env_remove(&name);
            }
        }
        command.output().expect("running the installed ferry")
    };
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        printed_commit(&String::from_utf8_lossy(&version.stdout)),
        git_short_head()
    );

    let src = sqlite::db_from_sql(
        work.path(),
        "tiny.sqlite",
        "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO note (body) VALUES ('one'), ('two'), ('three');",
    );
    let db = pg::server().fresh_db("install_tiny");
    let out = run(&[
        "migrate",
        src.file_name().unwrap().to_str().unwrap(),
        &db.url,
    ]);
    assert!(
        out.status.success(),
        "the installed ferry failed to migrate:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM note"), 3);
    assert_eq!(
        db.query_strings("SELECT string_agg(body, ',' ORDER BY id) FROM note"),
        vec![vec![Some("one,two,three".to_string())]]
    );
}
