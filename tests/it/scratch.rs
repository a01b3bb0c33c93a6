//! `ferry migrate --target-scratch` (issue 7): a rehearsal on a throwaway
//! local cluster, with the application's Alembic schema applied first; the
//! cluster is gone afterwards.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::cmd::{assert_code, ferry_env};
use crate::util::python;

/// A TMPDIR of the test's own (traversable by the server's OS user), so
/// tests running side by side do not see each other's clusters.
fn tmpdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn scratch_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ferry-scratch-"))
        .collect()
}

#[test]
fn rehearsal_into_a_scratch_cluster_with_the_alembic_schema() {
    let venv = python::venv();
    let tmp = tmpdir();
    let state = tempfile::tempdir().unwrap();
    let cmd = format!("cd '{}' && '{}/bin/alembic' upgrade head", python::app_dir().display(), venv.display());
    let src = python::flashcase_db();
    let out = ferry_env(
        &[
            "migrate",
            src.to_str().unwrap(),
            "--target-scratch",
            "--scratch-schema-cmd",
            &cmd,
            "--state-dir",
            state.path().to_str().unwrap(),
            "--json",
        ],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    assert_code(&out, 0);
    assert!(out.stderr.contains("loading into the existing tables"), "the Alembic schema was used:\n{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["tables"].as_array().unwrap().len(), 6);
    assert!(v["phases"].as_array().unwrap().iter().any(|p| p[0] == "load"), "timings reported");
    assert_eq!(scratch_dirs(tmp.path()), Vec::<String>::new(), "the scratch cluster is removed");
}

#[test]
fn a_failing_schema_command_stops_and_cleans_up() {
    let tmp = tmpdir();
    let src = python::flashcase_db();
    let state = tempfile::tempdir().unwrap();
    let out = ferry_env(
        &[
            "migrate",
            src.to_str().unwrap(),
            "--target-scratch",
            "--scratch-schema-cmd",
            "exit 3",
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    assert_code(&out, 2);
    assert!(out.stderr.contains("the schema command \"exit 3\" failed"), "{}", out.stderr);
    assert_eq!(scratch_dirs(tmp.path()), Vec::<String>::new());
}
