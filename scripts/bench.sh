#!/usr/bin/env bash
# End-to-end benchmark (issue 5): ferry against the server's own floor and against pgloader, on one
# throwaway PostgreSQL cluster, for a FlashCase database of the given scale.
#
#   bash scripts/bench.sh [SCALE]        # SCALE defaults to 1 (≈ 1.6 M rows, 400 MB)
#
# In one run, each timed with wall clock (and /usr/bin/time -v for peak RSS where there is a client):
#   generate  ferry-gen writes $FERRY_BENCH_DIR/flashcase-SCALE.db (kept and reused by later runs)
#   ferry     `ferry migrate SRC URL --json` in create mode: plan, create, load, keys, verify
#   floor     the same rows with no client at all: binary COPY files made once with
#             `COPY t TO 'file' (FORMAT binary)` from ferry's database, loaded into fresh tables
#             without keys by two psql sessions in parallel (`BEGIN; TRUNCATE; COPY t FROM 'file'
#             (FORMAT binary, FREEZE); COMMIT`, the same WAL-skipping path ferry takes), then the same
#             primary keys, unique constraints and indexes (two sessions), then the foreign keys
#             (two sessions); DDL taken from ferry's database (pg_dump pre-data, catalog queries)
#   pgloader  `pgloader sqlite://SRC postgresql://…` (Debian's package), when it installs
#   read      the SQLite side alone: `ferry-gen --read` reads every value once, one thread
#   copy-to   the target side alone: `COPY (SELECT …) TO STDOUT (FORMAT binary)` of every table, one
#             session, into /dev/null (what ferry's verification reads back)
#   both      read and copy-to started together: the two sides' bare cost on this machine's cores
#   verify    `ferry verify SRC URL --json`: issue 6's ratio is verify / max(read, copy-to)
#             (these four run FERRY_BENCH_VERIFY_ROUNDS times, default 3, interleaved; medians)
#   window    issue 16's short window (first, on the quiet cluster): a WAL copy of the source
#             migrated, 1 % of every table's rows changed by another process, then `ferry sync`,
#             `ferry verify` and a full `ferry migrate` of the changed file; sync / verify and
#             sync / migrate ratios (goals 1.5 and 0.4)
# and prints a table with ratios against the floor; the table and the raw outputs are kept in
# $FERRY_BENCH_DIR/results-SCALE/.
#
# Server settings: PostgreSQL's defaults (fsync on, synchronous_commit on, full_page_writes on,
# shared_buffers 128MB, max_wal_size 1GB) except wal_level = minimal and max_wal_senders = 0, so a
# COPY into a table created or truncated in the same transaction skips the WAL, as a migration
# into a fresh server may arrange; listen on 127.0.0.1, TimeZone UTC. The tests' fsync = off would
# flatter whatever writes the most.
#
# Environment: FERRY_BENCH_DIR (default /tmp/ferry-bench), FERRY_BENCH_PGLOADER=0 to skip pgloader,
# FERRY_BENCH_PGLOADER_WITH (default "prefetch rows = 10000", see below; empty for pgloader's
# defaults), FERRY_BENCH_FLOOR_STREAMS (default 2), FERRY_BENCH_SYNC_ROUNDS (default 1),
# FERRY_BENCH_ONLY=sync to run only the short window (=main: everything but it). The long mode is
# SCALE 4. Needs root for apt-get when packages are missing.
#
# TODO(existing schema): the target schema of the FlashCase app is made by Alembic
# (fixtures/alembic_app), with its keys in place. Add a fourth contender here: `alembic upgrade head`
# into a fresh database, then `ferry migrate SRC URL` (existing mode, keys set aside and restored),
# against a floor that loads the same COPY files into that schema. See run_existing_schema below.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

scale=${1:-1}
bench=${FERRY_BENCH_DIR:-/tmp/ferry-bench}
streams=${FERRY_BENCH_FLOOR_STREAMS:-2}
want_pgloader=${FERRY_BENCH_PGLOADER:-1}
verify_rounds=${FERRY_BENCH_VERIFY_ROUNDS:-3}
sync_rounds=${FERRY_BENCH_SYNC_ROUNDS:-1}
# FERRY_BENCH_ONLY=sync (or main): only the short window of issue 16 (or only the rest).
only=${FERRY_BENCH_ONLY:-}
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
# pgloader 3.6 reads 100,000 rows ahead per table by default and runs out of its 1 GiB SBCL heap
# ("Heap exhausted, game over") on the 500k cards of scale 1; a smaller read-ahead lets it finish.
pgloader_with=${FERRY_BENCH_PGLOADER_WITH-prefetch rows = 10000}

ensure_packages
extra=()
[ -x /usr/bin/time ] || extra+=(time)
command -v sqlite3 >/dev/null 2>&1 || extra+=(sqlite3)
command -v python3 >/dev/null 2>&1 || extra+=(python3)
if [ "${#extra[@]}" -gt 0 ]; then
    _ferry_apt update && _ferry_apt install --no-install-recommends "${extra[@]}"
fi
if [ "$want_pgloader" = 1 ] && want main && ! command -v pgloader >/dev/null 2>&1; then
    echo "bench: installing pgloader" >&2
    { _ferry_apt update && _ferry_apt install --no-install-recommends pgloader; } ||
        echo "bench: pgloader could not be installed; its row will be empty" >&2
fi

cargo build --release --locked --bin ferry --bin ferry-gen
ferry=$root/target/release/ferry
gen=$root/target/release/ferry-gen
bindir=$(pg_bindir)

mkdir -p "$bench"
bench=$(cd "$bench" && pwd)
src=$bench/flashcase-$scale.db
out=$bench/results-$scale
data=$bench/pg-data
copydir=$bench/copy-$scale
rm -rf "$out"
mkdir -p "$out"

# Wall time of a command in seconds, its peak RSS in KiB (/usr/bin/time), its exit code, and the
# peaks of its anonymous and file-backed resident memory (RssAnon, RssFile, sampled every 50 ms from
# /proc: mmap'd file pages count in RSS but are the kernel's page cache), into $out/NAME.time;
# stdout and stderr into $out/NAME.out / .err.
timed() {
    local name=$1 code=0 tpid cpid anon=0 file=0 a f
    shift
    /usr/bin/time -o "$out/$name.rusage" -v "$@" >"$out/$name.out" 2>"$out/$name.err" &
    tpid=$!
    while kill -0 "$tpid" 2>/dev/null; do
        cpid=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null || true)
        cpid=${cpid%% *}
        if [ -n "$cpid" ] && [ -r "/proc/$cpid/status" ]; then
            read -r a f < <(awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { print a + 0, f + 0 }' "/proc/$cpid/status" 2>/dev/null || echo "0 0")
            [ "${a:-0}" -gt "$anon" ] && anon=$a
            [ "${f:-0}" -gt "$file" ] && file=$f
        fi
        sleep 0.05
    done
    wait "$tpid" || code=$?
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$out/$name.rusage")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$out/$name.rusage")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$out/$name.rusage")
    echo "$wall $rss $code $anon $file $cpu" >"$out/$name.time"
    echo "bench: $name: ${wall}s, peak RSS $((rss / 1024)) MiB (anonymous $((anon / 1024)), file-backed $((file / 1024))), exit $code" >&2
    return 0
}
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }

# ---------------------------------------------------------------- source
if [ ! -f "$src" ]; then
    echo "bench: generating $src" >&2
    "$gen" --scale "$scale" --out "$src.tmp"
    mv "$src.tmp" "$src"
fi
ls -l "$src" >&2

# ---------------------------------------------------------------- cluster
# Our own initdb with our settings; start_cluster then finds PG_VERSION and only starts it.
stop_cluster "$data" 2>/dev/null || true
rm -rf "$data"
mkdir -p "$data"
port=$(free_port)
user=$(_ferry_cluster_user)
if [ -n "$user" ]; then
    chown "$user:" "$data"
    parent=$bench
    while [ "$parent" != / ]; do chmod o+x "$parent"; parent=$(dirname "$parent"); done
fi
chmod 700 "$data"
_ferry_as "$user" "$bindir/initdb" -D "$data" -U ferry --auth=trust --encoding=UTF8 --locale=C >"$out/initdb.log" 2>&1
_ferry_as "$user" tee -a "$data/postgresql.conf" >/dev/null <<EOF
# added by scripts/bench.sh: defaults otherwise (fsync, synchronous_commit, full_page_writes on)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
wal_level = minimal
max_wal_senders = 0
TimeZone = 'UTC'
log_timezone = 'UTC'
EOF
start_cluster "$data" "$port"
trap 'stop_cluster "$data"' EXIT
base=postgresql://ferry@127.0.0.1:$port
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
settings=$(psql "$base/postgres" -At -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
    WHERE name IN ('fsync','synchronous_commit','full_page_writes','wal_level','max_wal_senders','shared_buffers',
                   'max_wal_size','maintenance_work_mem','work_mem','checkpoint_timeout')")
version=$(psql "$base/postgres" -At -c "SHOW server_version")
echo "bench: PostgreSQL $version: $settings" >&2
newdb() { psql "$base/postgres" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
# Flush dirty pages so one contender's checkpoint does not land in the next one's time.
settle() { psql "$base/postgres" -c CHECKPOINT; sync; }

# ---------------------------------------------------------------- issue 16: the short window
# FlashCase in WAL mode, as a live application keeps it: `ferry migrate` while the application
# runs, then about 1 % of every table's rows changed by another process (scripts/flashcase_change.py:
# every hundredth row in key order updated, deleted with its children, or copied under a new key),
# then `ferry sync` (the window: what remains once writes stop), `ferry verify` of the same data,
# and a full `ferry migrate` of the changed file into a fresh database (the window without sync).
# FERRY_BENCH_SYNC_ROUNDS (default 1) rounds of change, sync, verify, full migrate; each round
# changes other rows (the offset moves). Goals: sync / verify <= 1.5, sync / full migrate <= 0.4.
if want sync; then
    wsrc=$bench/flashcase-$scale-wal.db
    rm -f "$wsrc" "$wsrc-wal" "$wsrc-shm"
    cp "$src" "$wsrc"
    [ "$(sqlite3 "$wsrc" 'PRAGMA journal_mode = WAL')" = wal ]
    newdb window
    settle
    FERRY_STATE_DIR=$out/state-window timed window-migrate "$ferry" migrate "$wsrc" "$base/window" --json
    for round in $(seq "$sync_rounds"); do
        timed "window-change-$round" python3 scripts/flashcase_change.py "$wsrc" --offset $((50 + 17 * (round - 1)))
        settle
        FERRY_STATE_DIR=$out/state-window timed "window-sync-$round" "$ferry" sync "$wsrc" "$base/window" --json
        settle
        timed "window-verify-$round" "$ferry" verify "$wsrc" "$base/window" --json
        newdb "window_full_$round"
        settle
        FERRY_STATE_DIR=$out/state-window-full-$round timed "window-full-$round" "$ferry" migrate "$wsrc" "$base/window_full_$round" --json
        psql "$base/postgres" -c "DROP DATABASE window_full_$round"
    done
    python3 - "$out" "$scale" "$wsrc" "$sync_rounds" <<'PY'
import json, os, statistics, sys
out, scale, wsrc, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def t(name):
    p = f"{out}/{name}.time"
    if not os.path.exists(p):
        return None
    f = open(p).read().split()
    return float(f[0]), int(f[1]) / 1024, int(f[2]), float(f[5])
def doc(name):
    try:
        return json.load(open(f"{out}/{name}.out"))
    except Exception:
        return {}
def phases(name):
    return ", ".join(f"{k} {v:.1f}s" for k, v in doc(name).get("phases", []))
rows = ["| run | wall s | client CPU s | peak RSS MiB | exit | notes |", "| --- | ---: | ---: | ---: | ---: | --- |"]
def row(label, name, note=""):
    r = t(name)
    if r is None:
        rows.append(f"| {label} | – | – | – | – | not run |")
        return
    rows.append(f"| {label} | {r[0]:.1f} | {r[3]:.1f} | {r[1]:.0f} | {r[2]} | {note} |")
row("`ferry migrate` while the application runs (WAL source)", "window-migrate", phases("window-migrate"))
ratios = []
for i in range(1, rounds + 1):
    change = open(f"{out}/window-change-{i}.out").read().strip().splitlines()
    row(f"round {i}: 1 % of rows changed by another process (python3 sqlite3)", f"window-change-{i}", change[-1] if change else "")
    sync = doc(f"window-sync-{i}")
    per = sync.get("tables", sync if isinstance(sync, list) else [])
    moved = {k: sum(int(x.get(k, 0) or 0) for x in per) for k in ("inserted", "deleted", "replaced")}
    reloaded = [x.get("table") for x in per if x.get("reloaded")]
    note = ", ".join(f"{k} {v}" for k, v in moved.items()) + (f"; reloaded whole: {', '.join(reloaded)}" if reloaded else "")
    row(f"round {i}: `ferry sync`", f"window-sync-{i}", note)
    row(f"round {i}: `ferry verify` of the same data", f"window-verify-{i}", phases(f"window-verify-{i}"))
    row(f"round {i}: full `ferry migrate` of the changed file into a fresh database", f"window-full-{i}", phases(f"window-full-{i}"))
    s, v, m = t(f"window-sync-{i}"), t(f"window-verify-{i}"), t(f"window-full-{i}")
    if s and v and m:
        ratios.append((s[0] / v[0], s[0] / m[0]))
lines = [f"issue 16, the short window: FlashCase scale {scale} in WAL mode ({os.path.getsize(wsrc) / 1e6:.0f} MB)", "", *rows, ""]
if ratios:
    lines.append(f"sync / verify = {statistics.median(r[0] for r in ratios):.2f} (goal <= 1.5; rounds: {', '.join(f'{r[0]:.2f}' for r in ratios)})")
    lines.append(f"sync / full migrate = {statistics.median(r[1] for r in ratios):.2f} (goal <= 0.4; rounds: {', '.join(f'{r[1]:.2f}' for r in ratios)})")
text = "\n".join(lines)
open(f"{out}/window.md", "w").write(text + "\n")
print(text)
PY
fi
want main || exit 0

# ---------------------------------------------------------------- ferry migrate (create mode)
# Other work on the machine inflates every wall time; the client CPU column does not move as much.
load_before=$(cut -d' ' -f1 /proc/loadavg)
newdb ferry_create
settle
export FERRY_STATE_DIR=$out/ferry-state
timed ferry "$ferry" migrate "$src" "$base/ferry_create" --json

# ---------------------------------------------------------------- the floor
# Binary COPY files, made once per scale from ferry's database (the server writes them).
tables=$(psql "$base/ferry_create" -At -c "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY pg_relation_size(c.oid) DESC")
rm -rf "$copydir"
mkdir -p "$copydir"
[ -z "$user" ] || chown "$user:" "$copydir"
t0=$(now)
for t in $tables; do
    psql "$base/ferry_create" -c "COPY public.\"$t\" TO '$copydir/$t.bin' (FORMAT binary)"
done
t1=$(now)
copy_to_files=$(elapsed "$t0" "$t1")

# Pre-data (tables, identity columns) from pg_dump; keys and FKs from the catalog.
"$bindir/pg_dump" --schema-only --section=pre-data --no-owner "$base/ferry_create" >"$out/floor-pre.sql"
psql "$base/ferry_create" -At >"$out/floor-keys.tsv" <<'SQL'
SELECT c.conrelid::regclass, 'ALTER TABLE ' || c.conrelid::regclass || ' ADD CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid) || ';'
  FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p', 'u')
UNION ALL
SELECT i.indrelid::regclass, pg_get_indexdef(i.indexrelid) || ';'
  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
 WHERE t.relnamespace = 'public'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
SQL
psql "$base/ferry_create" -At >"$out/floor-fks.sql" <<'SQL'
SELECT 'ALTER TABLE ' || c.conrelid::regclass || ' ADD CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid) || ';'
  FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace AND c.contype = 'f';
SQL
# Tables into $streams bins, largest first onto the lightest bin; keys and FKs the same way.
python3 - "$copydir" "$out" "$streams" $tables <<'PY'
import os, sys
copydir, out, n, tables = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
size = {t: os.path.getsize(os.path.join(copydir, t + ".bin")) for t in tables}
bins = [[] for _ in range(n)]
load = [0] * n
for t in sorted(tables, key=lambda t: -size[t]):
    i = load.index(min(load))
    bins[i].append(t)
    load[i] += size[t]
q = lambda t: '"' + t.replace('"', '""') + '"'
for i, b in enumerate(bins):
    with open(f"{out}/floor-load-{i}.sql", "w") as f:
        for t in b:
            f.write(f"BEGIN; TRUNCATE public.{q(t)}; COPY public.{q(t)} FROM '{copydir}/{t}.bin' (FORMAT binary, FREEZE); COMMIT;\n")
keys = [line.split("|", 1) for line in open(f"{out}/floor-keys.tsv") if line.strip()]
bins = [[] for _ in range(n)]
load = [0] * n
for table in sorted({k[0] for k in keys}, key=lambda t: -size.get(t.strip('"').split(".")[-1], 0)):
    i = load.index(min(load))
    bins[i] += [k[1] for k in keys if k[0] == table]
    load[i] += size.get(table.strip('"').split(".")[-1], 0)
for i, b in enumerate(bins):
    open(f"{out}/floor-keys-{i}.sql", "w").write("\n".join(b) + "\n")
fks = [l for l in open(f"{out}/floor-fks.sql") if l.strip()]
for i in range(n):
    open(f"{out}/floor-fks-{i}.sql", "w").write("".join(fks[i::n]))
PY
newdb floor
psql "$base/floor" -f "$out/floor-pre.sql" >/dev/null
settle
parallel_psql() { # FILE-PREFIX: runs PREFIX-0.sql … in parallel sessions, fails if any fails
    local pids=() i status=0
    for ((i = 0; i < streams; i++)); do
        psql "$base/floor" -f "$out/$1-$i.sql" >"$out/$1-$i.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    return "$status"
}
t0=$(now)
parallel_psql floor-load
t1=$(now)
parallel_psql floor-keys
t2=$(now)
parallel_psql floor-fks
t3=$(now)
floor_load=$(elapsed "$t0" "$t1")
floor_keys=$(elapsed "$t1" "$t3")
floor_total=$(elapsed "$t0" "$t3")
echo "$floor_total 0 0" >"$out/floor.time"
echo "bench: floor: load ${floor_load}s, keys+FKs ${floor_keys}s, total ${floor_total}s" >&2
psql "$base/floor" -At -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables" >"$out/floor-rows.txt" || true
rm -rf "$copydir"   # as large as the data; made again by the next run

# ---------------------------------------------------------------- pgloader
if command -v pgloader >/dev/null 2>&1 && [ "$want_pgloader" = 1 ]; then
    newdb pgl
    settle
    pgl_args=(--no-ssl-cert-verification)
    [ -z "$pgloader_with" ] || pgl_args+=(--with "$pgloader_with")
    timed pgloader pgloader "${pgl_args[@]}" "sqlite://$src" "$base/pgl"
    if ! grep -q "Total import time" "$out/pgloader.out" "$out/pgloader.err" 2>/dev/null; then
        echo "bench: pgloader did not finish; see $out/pgloader.err" >&2
    fi
fi

# ---------------------------------------------------------------- issue 6: verify against its parts
sync
# One session, every table, as ferry's verification reads them: the mapped columns, binary.
psql "$base/ferry_create" -At >"$out/copy-to.sql" <<'SQL'
SELECT 'COPY (SELECT ' || string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) || ' FROM ' || c.oid::regclass
       || ') TO STDOUT (FORMAT binary);'
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
 GROUP BY c.oid;
SQL
copy_all() { command psql -X -q "$base/ferry_create" -f "$out/copy-to.sql" >/dev/null; }
# Rounds of (read, copy-to, both at once, verify), interleaved so that a noisy neighbour weighs on
# all four alike; the report takes each one's median and the median of the rounds' ratios.
# "both": the read and the copy-to side by side, no hashing: what the two sides of a verification
# cost together on this machine (on 2 cores they compete for the same CPUs).
for round in $(seq "$verify_rounds"); do
    timed "read-$round" "$gen" --read "$src"
    t0=$(now)
    copy_all
    t1=$(now)
    echo "$(elapsed "$t0" "$t1") 0 0" >"$out/copy-to-$round.time"
    t0=$(now)
    "$gen" --read "$src" >/dev/null 2>&1 &
    reader=$!
    copy_all
    wait "$reader"
    t1=$(now)
    echo "$(elapsed "$t0" "$t1") 0 0" >"$out/both-$round.time"
    timed "verify-$round" "$ferry" verify "$src" "$base/ferry_create" --json
done

# ---------------------------------------------------------------- into the Alembic schema (issue 4)
# The FlashCase app's own schema (fixtures/alembic_app), made by `alembic upgrade head`, with its
# keys and indexes in place: ferry sets the FKs and secondary indexes aside, loads, restores them,
# sets the sequences and verifies. Compared with the same floor (bare COPY, then the keys).
pyenv=$bench/pyenv
if [ ! -x "$pyenv/bin/alembic" ]; then
    py=/usr/bin/python3
    [ -x "$py" ] || py=python3
    "$py" -m venv "$pyenv" || { _ferry_apt update && _ferry_apt install --no-install-recommends python3-venv && "$py" -m venv "$pyenv"; }
    "$pyenv/bin/pip" install -q -r fixtures/alembic_app/requirements.txt
fi
newdb ferry_app
(cd fixtures/alembic_app && DATABASE_URL="${base/postgresql:\/\//postgresql+psycopg2://}/ferry_app" "$pyenv/bin/alembic" upgrade head >/dev/null)
settle
rm -rf "$out/ferry-state-app"
FERRY_STATE_DIR=$out/ferry-state-app timed ferry-existing "$ferry" migrate "$src" "$base/ferry_app" --schema existing --json

# ---------------------------------------------------------------- report
python3 - "$out" "$scale" "$src" "$version" "$settings" "$floor_load" "$floor_keys" "$copy_to_files" "$load_before" "$verify_rounds" <<'PY'
import json, os, platform, statistics, sys, datetime
out, scale, src, version, settings, floor_load, floor_keys, copy_to_files, load_before, verify_rounds = sys.argv[1:]
rounds = range(1, int(verify_rounds) + 1)
def t(name):
    p = f"{out}/{name}.time"
    if not os.path.exists(p):
        return None
    f = open(p).read().split() + ["0", "0", "0"]
    return float(f[0]), int(f[1]) / 1024, int(f[2]), int(f[3]) / 1024, int(f[4]) / 1024, float(f[5])
def phases(name):
    try:
        doc = json.load(open(f"{out}/{name}.out"))
        return doc, {k: v for k, v in doc.get("phases", [])}
    except Exception:
        return None, {}
floor = t("floor")[0]
rows = []
def row(label, r, note=""):
    if r is None:
        rows.append(f"| {label} | – | – | – | – | {note or 'not run'} |")
        return
    wall, rss, code, anon, filebacked, cpu = r
    rss_s = f"{rss:.0f}" if rss else "–"
    if anon or filebacked:
        rss_s += f" ({anon:.0f} + {filebacked:.0f})"
    fail = "" if code == 0 else f" (exit {code})"
    cpu_s = f"{cpu:.1f}" if cpu else "–"
    rows.append(f"| {label} | {wall:.1f} | {wall / floor:.2f}× | {cpu_s} | {rss_s} | {note}{fail} |")
doc, ph = phases("ferry")
total_rows = sum(tb.get("rows", 0) for tb in (doc or {}).get("tables", []))
split = ", ".join(f"{k} {v:.1f}s" for k, v in ph.items())
row("ferry migrate (create, verified)", t("ferry"), split)
edoc, eph = phases("ferry-existing")
row("ferry migrate into the Alembic schema, keys set aside and restored, verified", t("ferry-existing"), ", ".join(f"{k} {v:.1f}s" for k, v in eph.items()))
row("floor: server-side COPY, 2 streams + keys", t("floor"), f"load {float(floor_load):.1f}s, keys+FKs {float(floor_keys):.1f}s")
pg = t("pgloader")
note = ""
if pg:
    txt = open(f"{out}/pgloader.out").read() + open(f"{out}/pgloader.err").read()
    line = [l for l in txt.splitlines() if "Total import time" in l]
    note = " ".join(line[-1].split()) if line else "did not finish"
row("pgloader", pg, note)
def median_run(name):
    runs = [r for r in (t(f"{name}-{i}") for i in rounds) if r]
    if not runs:
        return None
    walls = sorted(r[0] for r in runs)
    mid = statistics.median(walls)
    pick = min(runs, key=lambda r: abs(r[0] - mid))
    return (mid,) + pick[1:]
def walls(name):
    return [r[0] if r else None for r in (t(f"{name}-{i}") for i in rounds)]
rd, ct, both, vf = median_run("read"), median_run("copy-to"), median_run("both"), median_run("verify")
spread = lambda name: "rounds: " + ", ".join(f"{w:.2f}" for w in walls(name) if w is not None)
row("SQLite full read (ferry-gen --read, 1 thread)", rd, spread("read"))
row("COPY … TO STDOUT of the target (1 session)", ct, spread("copy-to"))
row("both at once (the read beside the copy-to, no hashing)", both, spread("both"))
vdoc, vph = phases("verify-1")
row("ferry verify", vf, spread("verify") + "; round 1: " + ", ".join(f"{k} {v:.1f}s" for k, v in vph.items()))
lines = [
    f"FlashCase scale {scale} ({os.path.getsize(src) / 1e6:.0f} MB, {total_rows} rows), "
    f"{os.cpu_count()} cores, {datetime.date.today()}, PostgreSQL {version}",
    f"server: {settings}",
    f"load average (1 min) before / after: {load_before} / {os.getloadavg()[0]:.2f}",
    "",
    "| run | wall s | vs floor | client CPU s | peak RSS MiB (anon + file) | notes |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    *rows,
    "",
]
if t("ferry") and doc:
    fw = t("ferry")[0]
    lines.append(f"ferry / floor = {fw / floor:.2f} (target ≤ 1.25); load phase alone / floor load = {ph.get('load', 0) / float(floor_load):.2f}")
if t("ferry-existing"):
    lines.append(f"ferry into the Alembic schema / floor = {t('ferry-existing')[0] / floor:.2f} (target ≤ 1.25)")
if pg and t("ferry"):
    lines.append(f"pgloader / ferry = {pg[0] / t('ferry')[0]:.2f} (target ≥ 4)")
ratios = []
for r, c, b, v in zip(walls("read"), walls("copy-to"), walls("both"), walls("verify")):
    if None not in (r, c, b, v):
        ratios.append((v / max(r, c), v / b))
if ratios:
    lines.append(
        f"verify / max(read, copy-to) = {statistics.median(x for x, _ in ratios):.2f} (target ≤ 1.2; rounds: "
        + ", ".join(f"{x:.2f}" for x, _ in ratios) + ")"
    )
    lines.append(
        f"verify / both at once = {statistics.median(y for _, y in ratios):.2f} (rounds: "
        + ", ".join(f"{y:.2f}" for _, y in ratios) + ")"
    )
lines.append(f"(binary COPY files written by COPY … TO 'file': {float(copy_to_files):.1f}s, not part of the floor)")
if os.path.exists(f"{out}/window.md"):
    lines += ["", open(f"{out}/window.md").read().rstrip()]
text = "\n".join(lines)
open(f"{out}/results.md", "w").write(text + "\n")
print(text)
PY
