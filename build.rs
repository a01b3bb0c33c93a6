//! Build script: stamps the git commit into `ferry --version`, so a report or a
//! bug filed from the machine that ran the cutover names the exact source.
//!
//! `FERRY_VERSION` is "<crate version> (<short commit>)", with ", modified"
//! when tracked files differ from that commit, and "(commit unknown)" outside a
//! git checkout (a crate tarball, or no `git` on the build machine): a build
//! never fails for want of git.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let stamp = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            watch_git_state();
            // Tracked files only: untracked scratch files do not make a build
            // "modified".
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}, modified")
            } else {
                commit
            }
        }
        None => "commit unknown".to_string(),
    };
    println!("cargo:rustc-env=FERRY_VERSION={version} ({stamp})");
}

/// Runs `git ARGS` in the package directory; its trimmed stdout on success.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Re-run when the commit or the index moves (a commit, checkout or `git add`),
/// and on any change under src/ (the "modified" mark). Paths come from git, so
/// worktrees (where `.git` is a file) work too.
fn watch_git_state() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![
        root.join("src"),
        root.join("Cargo.toml"),
        root.join("build.rs"),
    ];
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = root.join(dir);
        paths.push(dir.join("HEAD"));
        paths.push(dir.join("index"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = root.join(common);
        paths.push(common.join("packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            paths.push(common.join(branch));
        }
    }
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
