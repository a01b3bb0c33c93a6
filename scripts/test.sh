#!/usr/bin/env bash
# README command 2: run every test target, and all of them even after one fails: the library's
# unit tests, the integration tests (against a throwaway PostgreSQL, see tests/it/util/pg.rs) and
# the doc tests. The benches are compiled (not run), so that they cannot break unseen.
# The test binaries are built first, while the packages the tests need install.
#
# CI (if set) passes through to the tests. The test cluster is stopped on exit, and the script
# exits non-zero when anything failed, the build included.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

# What the build needs first; the rest (PostgreSQL, Ruby, python3-venv, npm: downloads, mostly)
# installs while cargo compiles, which is where a fresh machine spends its first minutes.
ensure_build_packages
target=${CARGO_TARGET_DIR:-target}
log=$target/ferry-test.log
mkdir -p "$target"
ensure_run_packages >"$target/ferry-apt.log" 2>&1 &
apt_job=$!
trap 'bash scripts/stop-test-pg.sh || echo "ferry: could not stop the test cluster" >&2' EXIT

status=0
cargo test --locked --no-run 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
if ! wait "$apt_job"; then
    cat "$target/ferry-apt.log" >&2
    echo "ferry: installing the packages the tests need failed" >&2
    exit 1
fi
cat "$target/ferry-apt.log" >&2
if [ "$status" = 0 ]; then
    cargo test --locked --no-fail-fast 2>&1 | tee -a "$log" || status=${PIPESTATUS[0]}
fi
# The benches build in the release profile, like `cargo install` in
# install::cargo_install_into_a_fresh_prefix_runs_outside_the_build_tree: in its
# target directory (target/install-cache) they reuse its compiled dependencies.
bench_status=0
CARGO_TARGET_DIR=$(cd "$target" && pwd)/install-cache cargo bench --no-run --locked 2>&1 |
    tee -a "$log" || bench_status=${PIPESTATUS[0]}
[ "$bench_status" = 0 ] || status=$bench_status

echo
echo "== summary (full output in $log)"
awk '/^ +Running /   { target = ($2 == "unittests") ? $3 : $2 }
     /^ +Doc-tests / { target = "doc-tests " $2 }
     /^test result:/ { sub(/; finished in.*/, ""); printf "  %-28s %s\n", target, $0; n++ }
     END { if (!n) print "  no test results: see the log (did the build fail?)" }' "$log"
if [ "$status" != 0 ]; then
    grep -E '^test .* \.\.\. FAILED$' "$log" | sed 's/^/  /' || true
    [ "$bench_status" = 0 ] || echo "  the benches do not compile (cargo bench --no-run exited with $bench_status)"
    echo "FAILED (exit status $status)"
fi
exit "$status"
