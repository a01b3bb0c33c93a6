//! `--report-html` in a real browser (issue 14, point 5): headless Chromium
//! opens the plan, migrate (success and refusal) and verify (with
//! differences) pages; a test fails on a script or console error or a missing
//! section. The page's inline script sets `data-ok` and `data-sections` on
//! `<body>` only after it ran, and `window.onerror` records errors in
//! `data-errors` on `<html>`, so `--dump-dom` shows both.
//!
//! Chromium comes from Debian (`chromium`), installed here when missing
//! (apt-get update first, under a file lock so parallel tests do not race).
//! Screenshots of each page go to `target/report-screenshots/` (the ones in
//! `docs/` are copies).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::server;
use crate::util::sqlite::db_from_sql;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn target_dir() -> PathBuf {
    let t = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(REPO).join("target"), PathBuf::from);
    if t.is_absolute() {
        t
    } else {
        Path::new(REPO).join(t)
    }
}

/// Installs Debian's chromium once, under a lock shared by parallel tests.
fn chromium() -> &'static str {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        let lock = target_dir().join("chromium-apt.lock");
        std::fs::create_dir_all(target_dir()).unwrap();
        let out = Command::new("flock")
            .arg(&lock)
            .args([
                "sh",
                "-c",
                "command -v chromium >/dev/null || { apt-get update -q && \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }",
            ])
            .output()
            .expect("running flock/apt-get to install chromium");
        assert!(
            out.status.success(),
            "cannot install chromium (the HTML report tests need a real browser):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    "chromium"
}

/// Opens `page` in headless Chromium: the DOM after scripts ran, and a
/// screenshot into target/report-screenshots/<name>.png.
pub(crate) fn open_in_browser(page: &Path, name: &str, sections: &[&str]) -> String {
    let browser = chromium();
    let url = format!("file://{}", page.display());
    let run = |extra: &[&str]| {
        let profile = tempfile::tempdir().unwrap();
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("running chromium");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "chromium failed on {url}:\n{stderr}");
        // Console messages (errors included) are logged as "CONSOLE(line)".
        let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE(")).collect();
        assert!(
            console.is_empty(),
            "console output on {url}:\n{}",
            console.join("\n")
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        !dom.contains("data-errors"),
        "script errors on {url}:\n{dom}"
    );
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or("");
    assert!(
        body.contains("data-ok=\"1\""),
        "the page's script did not run to its end on {url}: <body{body}>"
    );
    let rendered = body
        .split("data-sections=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("");
    let rendered: Vec<&str> = rendered.split(' ').collect();
    for s in sections {
        assert!(
            rendered.contains(s),
            "section {s:?} missing on {url}; rendered: {rendered:?}"
        );
    }
    // No network: nothing on the page may load from elsewhere.
    let html = std::fs::read_to_string(page).unwrap();
    for needle in ["http://", "https://", "<link", "src="] {
        let stray = html.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !stray.contains(needle),
            "{page:?} refers outside itself ({needle})"
        );
    }
    let shots = target_dir().join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join(format!("report-{name}.png"));
    let _ = std::fs::remove_file(&png);
    run(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1280,2000",
    ]);
    assert!(
        std::fs::metadata(&png)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "no screenshot {png:?}"
    );
    dom
}

const SCHEMA: &str = "CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
     CREATE TABLE book (id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES author(id), title TEXT, price REAL, at DATETIME);
     INSERT INTO author VALUES (1, 'Le Guin'), (2, 'Lem');
     INSERT INTO book VALUES (1, 1, 'The Dispossessed', 9.5, '2020-01-01 10:00:00'),
                             (2, 2, 'Solaris', 7.25, '2021-06-30 08:15:00'),
                             (3, 1, 'Lathe of Heaven', 8.0, '2022-02-02 00:00:00');";

#[test]
fn plan_and_migrate_pages_render_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "books.db", SCHEMA);
    let src = src.to_str().unwrap();
    let db = server().fresh_db("report_html_ok");

    let plan_html = dir.path().join("plan.html");
    let plan = ferry(&[
        "plan",
        src,
        &db.url,
        "--json",
        "--report-html",
        plan_html.to_str().unwrap(),
    ]);
    assert_code(&plan, 0);
    let plan_json = dir.path().join("plan.json");
    std::fs::write(&plan_json, &plan.stdout).unwrap();
    let dom = open_in_browser(
        &plan_html,
        "plan",
        &["verdict", "tables", "decisions", "problems"],
    );
    for needle in ["would succeed", "author_id", "bigint"] {
        assert!(dom.contains(needle), "plan page lacks {needle:?}");
    }

    let run_html = dir.path().join("migrate.html");
    let out = ferry(&[
        "migrate",
        src,
        &db.url,
        "--report-html",
        run_html.to_str().unwrap(),
        "--compare-with",
        plan_json.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let dom = open_in_browser(
        &run_html,
        "migrate",
        &[
            "verdict",
            "tables",
            "decisions",
            "problems",
            "timeline",
            "compare",
        ],
    );
    for needle in [
        "Migrated: every table loaded and verified",
        "Exit code <b>0</b>",
        "book",
        "equal",
        "connection 0",
    ] {
        assert!(dom.contains(needle), "migrate page lacks {needle:?}");
    }
    // The content hash the run computed is on the page.
    let json = ferry(&["verify", src, &db.url, "--json"]);
    assert_code(&json, 0);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let hash = report["tables"][0]["hash"]
        .as_str()
        .expect("a content hash");
    assert!(dom.contains(hash), "migrate page lacks the hash {hash}");
}

#[test]
fn refusal_and_differences_pages_render_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let bad = db_from_sql(
        dir.path(),
        "bad.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME NOT NULL);
         INSERT INTO events VALUES (1, '2024-01-01 00:00:00'), (42, '2024-13-45 99:00:00');",
    );
    let db = server().fresh_db("report_html_refusal");
    let page = dir.path().join("refusal.html");
    let out = ferry(&[
        "migrate",
        bad.to_str().unwrap(),
        &db.url,
        "--report-html",
        page.to_str().unwrap(),
    ]);
    assert_code(&out, 2);
    let dom = open_in_browser(
        &page,
        "migrate-refusal",
        &["verdict", "state", "decisions", "problems"],
    );
    for needle in [
        "stopped without finishing",
        "State of the target",
        "empty (rolled back or not started)",
        "--resume",
        "Exit code <b>2</b>",
        "events",
        "2024-13-45 99:00:00",
    ] {
        assert!(dom.contains(needle), "refusal page lacks {needle:?}");
    }

    let src = db_from_sql(dir.path(), "books.db", SCHEMA);
    let src = src.to_str().unwrap();
    let db = server().fresh_db("report_html_verify");
    assert_code(&ferry(&["migrate", src, &db.url, "--quiet"]), 0);
    db.client()
        .batch_execute("UPDATE book SET title = 'Solaris (2nd ed.)' WHERE id = 2")
        .unwrap();
    let page = dir.path().join("verify.html");
    let out = ferry(&[
        "verify",
        src,
        &db.url,
        "--report-html",
        page.to_str().unwrap(),
    ]);
    assert_code(&out, 1);
    let dom = open_in_browser(
        &page,
        "verify-differences",
        &["verdict", "tables", "decisions", "problems"],
    );
    for needle in [
        "Source and target differ",
        "Exit code <b>1</b>",
        "id=2",
        "title",
        "content differs",
    ] {
        assert!(dom.contains(needle), "verify page lacks {needle:?}");
    }
}
