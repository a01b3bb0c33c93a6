#!/usr/bin/env bash
# README command 1: migrate the FlashCase fixture into a throwaway PostgreSQL and show the result.
#
# Builds ferry (release), starts a cluster under /tmp/ferry-demo on a free port, creates the
# database `flashcase`, runs `ferry migrate fixtures/flashcase.db postgresql://…/flashcase`,
# shows a few psql checks, stops the cluster, and exits with ferry's exit code.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

ensure_packages
cargo build --release --locked

demo=/tmp/ferry-demo
data=$demo/data
stop_cluster "$data" 2>/dev/null || true   # a cluster left by an interrupted demo
rm -rf "$demo"
mkdir -p "$demo"
port=$(free_port)
start_cluster "$data" "$port"
trap 'stop_cluster "$data"' EXIT

base=postgresql://ferry@127.0.0.1:$port
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql "$base/postgres" -c 'CREATE DATABASE flashcase'
url=$base/flashcase

echo "== ferry migrate fixtures/flashcase.db $url"
code=0
target/release/ferry migrate fixtures/flashcase.db "$url" || code=$?
echo "== ferry exited with $code"

# What landed, as PostgreSQL sees it. These only report; the exit code is ferry's.
echo "== column types of \"user\""
psql "$url" -c "SELECT column_name, data_type, is_nullable
                  FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name = 'user'
                 ORDER BY ordinal_position" || true
echo "== rows per table"
psql "$url" -c "SELECT 'user' AS table_name, count(*) FROM \"user\"
                UNION ALL SELECT 'deck', count(*) FROM deck
                UNION ALL SELECT 'card', count(*) FROM card
                UNION ALL SELECT 'deckmetadata', count(*) FROM deckmetadata
                UNION ALL SELECT 'studylog', count(*) FROM studylog
                UNION ALL SELECT 'userdeck', count(*) FROM userdeck" || true
echo "== studylog: odd ease_factor values (ids 1-5), ISO 8601 reviewed_at in the source (id % 250 = 0)"
psql "$url" -c "SELECT id, reviewed_at, ease_factor FROM studylog WHERE id % 250 = 0 OR id <= 5 ORDER BY id" || true

exit "$code"
