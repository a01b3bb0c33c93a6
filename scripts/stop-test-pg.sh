#!/usr/bin/env bash
# Stops the PostgreSQL cluster the integration tests start and leave running for reuse
# (tests/it/util/pg.rs, under ${CARGO_TARGET_DIR:-target}/ferry-test-pg). Safe to run when none runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

base=${CARGO_TARGET_DIR:-target}/ferry-test-pg
[ -f "$base/data/postmaster.pid" ] || exit 0
# The same lock the test harness holds while it checks for and starts the cluster.
exec 9>"$base/lock"
flock 9
stop_cluster "$base/data"
