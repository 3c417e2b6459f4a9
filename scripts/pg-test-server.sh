#!/bin/bash
# A private, throwaway PostgreSQL server for tests (Debian's postgresql package).
#
#   pg-test-server.sh start DIR   initdb into DIR (new or empty; a fresh temporary directory),
#                                 start the server listening only on a unix socket inside DIR
#                                 (no TCP), fsync on; waits until it accepts connections and
#                                 prints a libpq conninfo on stdout
#   pg-test-server.sh stop DIR    stops it (fast shutdown) and removes DIR
#
# Nothing is shared with a system cluster (its port, socket directory or data). As root (CI),
# initdb refuses to run: DIR is then owned by the postgres system user and the server runs as it.
# Any local user may connect as role postgres (trust on the socket); DIR is mode 0700, so only
# its owner and root can reach the socket.
set -euo pipefail

die() { echo "pg-test-server: $*" >&2; exit 1; }

[ $# = 2 ] || die "usage: $0 start|stop DIR"
cmd=$1
dir=$2
[[ "$dir" = /* ]] || die "DIR must be an absolute path: $dir"
marker="$dir/btt-pg-test-server"

bindir=
for d in $(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
[ -n "$bindir" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)"

if [ "$(id -u)" = 0 ]; then
    user=postgres
    getent passwd "$user" > /dev/null || die "running as root but there is no '$user' system user"
    as_owner() { runuser -u "$user" -- "$@"; }
else
    user=$(id -un)
    as_owner() { "$@"; }
fi

case "$cmd" in
start)
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    chmod 0700 "$dir"
    [ "$user" = "$(id -un)" ] || chown "$user:" "$dir"
    touch "$marker"
    # The socket path must fit in sun_path (107 bytes).
    [ ${#dir} -le 80 ] || die "DIR is too long for a unix socket path: $dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 > "$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -5 "$dir/initdb.log")"
    opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c port=5432 -c fsync=on"
    opts="$opts -c synchronous_commit=on -c max_connections=200"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start > /dev/null ||
        die "the server did not start: $(tail -5 "$dir/server.log" 2> /dev/null)"
    for _ in $(seq 100); do
        "$bindir/pg_isready" -q -h "$dir" -p 5432 -U postgres -d postgres && break
        sleep 0.1
    done
    "$bindir/pg_isready" -q -h "$dir" -p 5432 -U postgres -d postgres || die "the server does not accept connections"
    echo "host=$dir port=5432 user=postgres dbname=postgres"
    ;;
stop)
    [ -f "$marker" ] || die "$dir was not made by pg-test-server.sh start; not touching it"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop > /dev/null || die "pg_ctl stop failed"
    fi
    rm -rf "$dir"
    ;;
*)
    die "usage: $0 start|stop DIR"
    ;;
esac
