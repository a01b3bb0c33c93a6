# shellcheck shell=bash
# Shell helpers for ferry's scripts: sourced (`source scripts/setup.sh`), never run.
#
#   ensure_packages        install what the scripts need (PostgreSQL, a C compiler for the
#                          bundled SQLite, OpenSSL, python3 with venv) from apt, only when
#                          missing; apt-get update at most once
#   ensure_build_packages  only what building ferry needs (C compiler, pkg-config, OpenSSL
#                          headers); ensure_run_packages the rest, which can install while
#                          cargo builds (scripts/test.sh does so)
#   pg_bindir              print PostgreSQL's server bin directory (initdb, pg_ctl)
#   free_port              print a TCP port on 127.0.0.1 nobody listens on
#   start_cluster DIR PORT create (first time) and start a throwaway cluster in DIR on 127.0.0.1:PORT,
#                          superuser `ferry`, trust authentication: for demos, never for real data
#   stop_cluster DIR       stop the cluster in DIR if it runs
#
# PostgreSQL refuses to run as root, so when we are root (CI is) clusters run as the `postgres`
# OS user the Debian package creates, or as a `ferrytest` system user made for the purpose.
# tests/it/util/pg.rs follows the same rules for the test cluster.

_ferry_apt_updated=

# Runs "$@" as root: directly when we are root, through sudo otherwise.
_ferry_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "ferry: need root (or sudo) for: $*" >&2
        return 1
    fi
}

# apt-get with its chatter kept in a log that is shown only when it fails.
_ferry_apt() {
    local log status=0
    log=$(mktemp)
    _ferry_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y "$@" >"$log" 2>&1 || status=$?
    [ "$status" = 0 ] || { echo "ferry: apt-get $* failed:" >&2; cat "$log" >&2; }
    rm -f "$log"
    return "$status"
}

ensure_packages() {
    ensure_build_packages && ensure_run_packages
}

ensure_build_packages() {
    local missing=()
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)      # rusqlite builds SQLite from C
    # postgres-openssl links OpenSSL (found through pkg-config).
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    [ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
    _ferry_apt_install "${missing[@]}" || return 1
    command -v cargo >/dev/null 2>&1 || { echo "ferry: cargo not found; install Rust with rustup" >&2; return 1; }
}

ensure_run_packages() {
    local missing=()
    pg_bindir >/dev/null 2>&1 || missing+=(postgresql)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v runuser >/dev/null 2>&1 || missing+=(util-linux)    # runuser, flock
    # The TLS tests make their certificates with the openssl command.
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # The Python fixtures (fixtures/alembic_app, fixtures/frameworks) build venvs with pip.
    /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3 python3-venv)
    # pg_versions.rs fetches PostgreSQL 14-18 server builds with `npm pack` (Node ships npm).
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    # The ActiveRecord app of the framework matrix (tests/it/fw_activerecord.rs).
    ruby -e 'require "active_record"; require "sqlite3"; require "pg"' >/dev/null 2>&1 ||
        missing+=(ruby ruby-activerecord ruby-sqlite3 ruby-pg)
    _ferry_apt_install "${missing[@]}"
}

# _ferry_apt_install PACKAGE...: apt-get install them (nothing when none are given).
_ferry_apt_install() {
    [ "$#" -gt 0 ] || return 0
    echo "ferry: installing $*" >&2
    if [ -z "$_ferry_apt_updated" ]; then
        _ferry_apt update || return 1
        _ferry_apt_updated=1
    fi
    _ferry_apt install --no-install-recommends "$@"
}

pg_bindir() {
    local dir best=""
    # Debian keeps each major version apart; the highest wins. `pg_config --bindir` may name
    # /usr/bin, which holds only the client wrappers.
    while IFS= read -r dir; do
        [ -x "$dir/initdb" ] && best=$dir
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
    if [ -z "$best" ] && command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir)
        [ -x "$dir/initdb" ] && best=$dir
    fi
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then
        best=$(dirname "$(command -v initdb)")
    fi
    [ -n "$best" ] || { echo "ferry: no PostgreSQL server binaries (initdb) found" >&2; return 1; }
    printf '%s\n' "$best"
}

free_port() {
    local port _
    for _ in $(seq 1 100); do
        port=$((20000 + (RANDOM % 12000)))   # below Linux's ephemeral range (32768-)
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    echo "ferry: no free port found" >&2
    return 1
}

# Prints the OS user that runs clusters: empty when we are not root (then we run them).
_ferry_cluster_user() {
    [ "$(id -u)" = 0 ] || return 0
    if id -u postgres >/dev/null 2>&1; then
        echo postgres
        return 0
    fi
    id -u ferrytest >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin ferrytest || return 1
    echo ferrytest
}

# _ferry_as USER CMD...: runs CMD as USER (empty: as ourselves), from /, which every user may enter.
_ferry_as() {
    local user=$1
    shift
    if [ -n "$user" ]; then
        (cd / && runuser -u "$user" -- "$@")
    else
        (cd / && "$@")
    fi
}

start_cluster() {
    local dir=$1 port=$2 bin user out parent
    bin=$(pg_bindir) || return 1
    user=$(_ferry_cluster_user) || return 1
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
    if [ -n "$user" ]; then
        chown "$user:" "$dir" || return 1
        # The server user must be able to walk down to DIR.
        parent=$(dirname "$dir")
        while [ "$parent" != / ]; do
            chmod o+x "$parent" || return 1
            parent=$(dirname "$parent")
        done
    fi
    chmod 700 "$dir" || return 1
    if [ ! -f "$dir/PG_VERSION" ]; then
        out=$(_ferry_as "$user" "$bin/initdb" -D "$dir" -U ferry --auth=trust \
            --encoding=UTF8 --locale=C --no-sync 2>&1) ||
            { printf 'ferry: initdb failed:\n%s\n' "$out" >&2; return 1; }
        # Listen on loopback only, socket in DIR, and trade durability for speed.
        _ferry_as "$user" tee -a "$dir/postgresql.conf" >/dev/null <<EOF
# added by scripts/setup.sh start_cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '${dir//\'/\'\'}'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
TimeZone = 'UTC'
log_timezone = 'UTC'
EOF
    fi
    out=$(_ferry_as "$user" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port" -w -t 60 start 2>&1) || {
        printf 'ferry: pg_ctl start failed:\n%s\n--- tail of %s ---\n' "$out" "$dir/server.log" >&2
        tail -n 30 "$dir/server.log" >&2
        return 1
    }
}

stop_cluster() {
    local dir=$1 bin user=""
    [ -f "$dir/postmaster.pid" ] || return 0
    dir=$(cd "$dir" && pwd) || return 1   # _ferry_as runs from /
    bin=$(pg_bindir) || return 1
    # pg_ctl must run as the cluster's owner, who is not root.
    if [ "$(id -u)" = 0 ]; then
        user=$(stat -c %U "$dir") || return 1
    fi
    _ferry_as "$user" "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
}
