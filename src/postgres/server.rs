//! Where the installed PostgreSQL server's programs (`initdb`, `pg_ctl`,
//! `postgres`) are: one finder for `--target-scratch` and the tests' own
//! throwaway clusters, so both pick the same server.

use std::path::PathBuf;
use std::process::Command;

/// The newest installed server's bin directory: Debian's
/// `/usr/lib/postgresql/N/bin` with the highest N that has `initdb`, else a
/// directory on the PATH with `initdb` and `pg_ctl`, else `pg_config
/// --bindir` if `initdb` is there (it may name the client-only `/usr/bin`).
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, b)) = found.pop() {
        return Some(b);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("initdb").is_file() && d.join("pg_ctl").is_file() {
                return Some(d);
            }
        }
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    bin.join("initdb").is_file().then_some(bin)
}
