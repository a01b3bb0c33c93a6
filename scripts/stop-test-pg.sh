#!/usr/bin/env bash
# Stops the PostgreSQL cluster the integration tests start and leave running for reuse
# (tests/it/util/pg.rs, under ${CARGO_TARGET_DIR:-target}/ferry-test-pg). Safe to run when none runs.
#
# Takes the harness's locks in its order: start.lock, so no test process is starting the
# cluster, then in-use.lock exclusively, which waits until no test process (of another run in
# this checkout) still uses it. After two minutes of waiting it leaves the cluster running.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

base=${CARGO_TARGET_DIR:-target}/ferry-test-pg
[ -f "$base/data/postmaster.pid" ] || exit 0
exec 9>"$base/start.lock"
flock 9
exec 8>"$base/in-use.lock"
if ! flock -w 120 8; then
    echo "ferry: the test cluster in $base is still in use by another test process; left running" >&2
    exit 0
fi
stop_cluster "$base/data"
