# shellcheck shell=bash
# Shared helpers for btt's swarm tests (real peers moving real data). Source it right after
# `set -euo pipefail`. Needs BTT_BIN (btt binary) and BTT_SRC (source root) in the environment.
#
# Gives:
#   $BTT $PY $SW        btt binary, Debian's python3 (has libtorrent), this directory
#   $T                  a fresh temp dir (mode 755 so opentracker can read it after dropping
#                       root), removed on exit; logs of background processes in $T/log
#   BTT_STATE_DIR       exported as $T/state (btt's resume data)
#   start NAME CMD...   runs CMD in the background, stdout/stderr to $T/log/NAME.{out,err};
#                       every process started this way is stopped when the test ends
#   wait_line NAME RE SECS   waits until NAME's stdout has a line matching the ERE RE; prints it;
#                       fails at once if NAME exits first, or after SECS with a clear message
#   listen_port NAME    waits for "listening on ADDR:PORT" and prints PORT
#   wait_exit NAME SECS waits for NAME to exit; sets RC to its exit status; a timeout fails
#   stop NAME [SECS]    SIGTERM, then wait_exit (RC = exit status)
#   kill_hard NAME      SIGKILL on purpose (a crash test): reaped, not reported as a crash
#   free_port           an unused TCP+UDP port on 127.0.0.1
#   make_data FILE SIZE random bytes; same_file A B LABEL: byte-for-byte cmp, fails with detail
#   ns_new VAR          a network namespace of this test (lo up); ns_link NSA IPA NSB IPB:
#                       a veth pair between two of them with IPA/24 and IPB/24. Namespaces and
#                       every process in them are removed on exit.
#   tracker_start NAME IP PORT [NS] [HASH...]   opentracker (whitelist of the hashes) on IP:PORT
#                       (TCP and UDP), optionally inside namespace NS
#   tr_start NAME NS IP PEERPORT DLDIR [UTP [ENC]]  transmission-daemon in NS (uTP off unless
#                       UTP=true; encryption ENC, default 1 = Transmission's "prefer encrypted");
#                       tr_remote NAME ARGS...;
#                       tr_wait_done NAME SECS; tr_percent NAME
#   btt_hash TORRENT    info-hash (hex) from `btt info`
set -E

: "${BTT_BIN:?BTT_BIN must point at the btt binary}"
: "${BTT_SRC:?BTT_SRC must point at the source root}"
[ -x "$BTT_BIN" ] || { echo "FAIL: BTT_BIN=$BTT_BIN is not executable" >&2; exit 1; }

BTT=$BTT_BIN
PY=/usr/bin/python3
SW=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export SW
TEST_NAME=${TEST_NAME:-swarm_$(basename "$0" .sh)}

T=$(mktemp -d "${TMPDIR:-/tmp}/btt-$TEST_NAME.XXXXXX")
chmod 755 "$T"
mkdir -p "$T/log" "$T/state"
export BTT_STATE_DIR=$T/state
export BTT_DHT_BOOTSTRAP=none  # btt's DHT never reaches for the public routers from a test
export PYTHONDONTWRITEBYTECODE=1
export PYTHONUNBUFFERED=1
export LIBC_FATAL_STDERR_=1   # glibc abort messages ("free(): invalid pointer") into the logs

declare -A _PID=()      # NAME -> pid
declare -A _RC=()       # NAME -> exit status once reaped
_NETNS=()
_NS_SEQ=0
_FAILED=0

_log_tails() {
    local f
    for f in "$T"/log/*; do
        [ -s "$f" ] || continue
        echo "----- $(basename "$f") (last 40 lines) -----" >&2
        tail -n 40 "$f" >&2
    done
}

_cleanup() {
    local rc=$? name pid ns
    trap - ERR
    set +e
    kill -TERM "$_WATCHDOG" 2>/dev/null
    for name in "${!_PID[@]}"; do
        pid=${_PID[$name]}
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for name in "${!_PID[@]}"; do
        pid=${_PID[$name]}
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${_NETNS[@]}"; do
        # Processes left in our own namespaces (e.g. a daemon that forked) go too.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] || [ "$_FAILED" -ne 0 ]; then
        [ "$rc" -eq 0 ] && rc=1
        _log_tails
        if [ -n "${BTT_KEEP_TMP:-}" ]; then
            echo "(kept $T)" >&2
        else
            rm -rf "$T"
        fi
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CTest kills a test that runs past its TIMEOUT with SIGKILL, and then no trap runs: stop
# ourselves first (SIGTERM runs the cleanup) a little before CTest's 300 s.
(
    trap 'kill "$w" 2>/dev/null; exit 0' TERM
    sleep "${BTT_SWARM_DEADLINE:-280}" &
    w=$!
    wait "$w"
    echo "FAIL [$TEST_NAME]: the test's deadline (${BTT_SWARM_DEADLINE:-280} s) has passed; stopping" >&2
    kill -TERM $$
) &
_WATCHDOG=$!

# Namespaces left behind by a test run that was SIGKILLed (named btt-NAME-PID-N by ns_new):
# remove those whose test process is gone.
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null; then
    for _ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^btt-.*-[0-9]+-[0-9]+$' || true); do
        _p=$(echo "$_ns" | sed -E 's/.*-([0-9]+)-[0-9]+$/\1/')
        if ! kill -0 "$_p" 2>/dev/null; then
            for _q in $(ip netns pids "$_ns" 2>/dev/null); do kill -KILL "$_q" 2>/dev/null || true; done
            ip netns del "$_ns" 2>/dev/null || true
        fi
    done
fi
trap 'echo "FAIL [$TEST_NAME]: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

fail() {
    _FAILED=1
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}

# soft_fail MSG: records a failed check but lets the test go on (to learn more in one run);
# finish (the last line of every test) then fails the test.
_SOFT=()
soft_fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    _SOFT+=("$*")
}

finish() {
    if [ "${#_SOFT[@]}" -gt 0 ]; then
        fail "${#_SOFT[@]} check(s) failed: $(printf '%s; ' "${_SOFT[@]}")"
    fi
    ok "all checks passed"
}

ok() {
    echo "ok [$TEST_NAME]: $*"
}

note() {
    echo "   [$TEST_NAME] $*"
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' is not installed"
    done
}

need_root() {
    [ "$(id -u)" -eq 0 ] || fail "this test creates network namespaces and must run as root"
}

# ------------------------------------------------------------------------------------------
# background processes

start() {
    local name=$1
    shift
    [ -z "${_PID[$name]:-}" ] || fail "start: a process named '$name' already exists"
    : >"$T/log/$name.out"
    : >"$T/log/$name.err"
    "$@" >"$T/log/$name.out" 2>"$T/log/$name.err" </dev/null &
    _PID[$name]=$!
    note "started $name (pid $!): $*"
}

pid_of() {
    echo "${_PID[$1]:?no process named $1}"
}

alive() {
    kill -0 "$(pid_of "$1")" 2>/dev/null
}

# " (status N)" when this is the main shell and NAME has exited, else "" (a subshell cannot wait).
_status() {
    if [ "$BASHPID" = "$$" ]; then
        _reap "$1"
        echo " (status $RC)"
    fi
}

# _reap NAME: collects the exit status of a dead process into _RC and RC.
_reap() {
    local pid rc=0
    pid=$(pid_of "$1")
    if [ -z "${_RC[$1]:-}" ]; then
        wait "$pid" 2>/dev/null || rc=$?
        _RC[$1]=$rc
    fi
    RC=${_RC[$1]}
}

_check_crash() { # NAME: a signal death or a sanitizer report is a crash
    local name=$1
    if [ "$RC" -ge 128 ] && [ "$RC" -ne 143 ] && [ "$RC" -ne 130 ]; then
        fail "$name crashed (exit $RC, signal $((RC - 128)))"
    fi
    if grep -Eq 'Sanitizer|runtime error:' "$T/log/$name.err" 2>/dev/null; then
        fail "$name: sanitizer report in its stderr"
    fi
}

# kill_hard NAME: SIGKILL on purpose (crash tests); reaps NAME without calling it a crash.
kill_hard() {
    kill -KILL "$(pid_of "$1")" 2>/dev/null || true
    while alive "$1"; do sleep 0.05; done
    _reap "$1"
}

out_of() { cat "$T/log/$1.out"; }
err_of() { cat "$T/log/$1.err"; }

# wait_line NAME ERE SECS [DESC]: prints the first stdout line of NAME matching ERE
# (WAIT_STREAM=err: of its stderr, where btt -v logs).
wait_line() {
    local name=$1 re=$2 secs=$3 desc=${4:-}
    local f=$T/log/$name.${WAIT_STREAM:-out} line deadline
    deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
    while :; do
        line=$(grep -E -m1 -- "$re" "$f" 2>/dev/null || true)
        if [ -n "$line" ]; then
            printf '%s\n' "$line"
            return 0
        fi
        if ! alive "$name"; then
            # one more look: the line may have arrived just before the exit
            line=$(grep -E -m1 -- "$re" "$f" 2>/dev/null || true)
            if [ -n "$line" ]; then
                printf '%s\n' "$line"
                return 0
            fi
            fail "$name exited$(_status "$name") before printing a line matching /$re/ ${desc:+($desc)}"
        fi
        if [ "$(($(date +%s%N) / 1000000))" -ge "$deadline" ]; then
            fail "timeout: $name printed no line matching /$re/ within $secs s ${desc:+($desc)}"
        fi
        sleep 0.1
    done
}

# listen_port NAME [SECS]: waits for "listening on ADDR:PORT", prints PORT.
listen_port() {
    local line port
    line=$(wait_line "$1" '^listening on .*:[0-9]+$' "${2:-30}" "the listen line")
    port=${line##*:}
    [ "$port" -gt 0 ] 2>/dev/null || fail "$1: bad listen line '$line'"
    echo "$port"
}

# wait_exit NAME SECS: RC gets the exit status.
wait_exit() {
    local name=$1 secs=$2 deadline
    deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
    while alive "$name"; do
        if [ "$(($(date +%s%N) / 1000000))" -ge "$deadline" ]; then
            fail "timeout: $name still running after $secs s"
        fi
        sleep 0.1
    done
    _reap "$name"
    _check_crash "$name"
}

stop() {
    local name=$1 secs=${2:-20}
    if alive "$name"; then
        kill -TERM "$(pid_of "$name")" 2>/dev/null || true
    fi
    wait_exit "$name" "$secs"
}

# ------------------------------------------------------------------------------------------
# data

free_port() {
    "$PY" - <<'EOF'
import socket
for _ in range(50):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); u.close(); continue
    t.close(); u.close()
    print(port)
    break
else:
    raise SystemExit("no free port")
EOF
}

make_data() {
    head -c "$2" /dev/urandom >"$1"
    [ "$(stat -c %s "$1")" -eq "$2" ] || fail "could not make $1"
}

same_file() { # A B LABEL
    local a=$1 b=$2 label=${3:-}
    [ -f "$b" ] || fail "${label:+$label: }$b does not exist"
    if ! cmp -s "$a" "$b"; then
        fail "${label:+$label: }$b differs from $a (sizes $(stat -c %s "$a") vs $(stat -c %s "$b"); $(cmp "$a" "$b" 2>&1 | head -n1))"
    fi
}

btt_create() { # SRC OUT [btt create options...]
    local src=$1 out=$2
    shift 2
    "$BTT" create "$src" -o "$out" -q "$@" >"$T/log/create.out" 2>&1 ||
        fail "btt create $src $* failed: $(cat "$T/log/create.out")"
}

btt_hash() {
    local h
    h=$("$BTT" info "$1" | sed -n 's/^info-hash: \([0-9a-f]\{40\}\)$/\1/p' | head -n1)
    [ -n "$h" ] || fail "btt info $1 printed no info-hash line"
    echo "$h"
}

# "complete: downloaded D bytes in S s" -> D
completed_bytes() {
    local line
    line=$(grep -E -m1 '^complete: downloaded [0-9]+ bytes' "$T/log/$1.out" || true)
    [ -n "$line" ] || fail "$1 printed no 'complete: downloaded D bytes in S s' line"
    echo "$line" | sed -E 's/^complete: downloaded ([0-9]+) bytes.*/\1/'
}

# Fails unless the btt run NAME exited 0 and said complete.
expect_complete() { # NAME
    [ "$RC" -eq 0 ] || fail "$1 exited $RC, wanted 0"
    grep -Eq '^complete: downloaded [0-9]+ bytes in [0-9.]+ s' "$T/log/$1.out" ||
        fail "$1 exited 0 but printed no 'complete: downloaded D bytes in S s' line"
}

# ------------------------------------------------------------------------------------------
# network namespaces (our own test hosts; nothing outside them is contacted)

ns_new() { # VAR: sets VAR to the new namespace's name
    local var=$1 ns
    need_root
    _NS_SEQ=$((_NS_SEQ + 1))
    ns="btt-${TEST_NAME#swarm_}"
    ns="${ns:0:20}-$$-$_NS_SEQ"
    ip netns add "$ns" || fail "ip netns add $ns failed"
    _NETNS+=("$ns")
    ip -n "$ns" link set lo up
    printf -v "$var" '%s' "$ns"
}

ns_link() { # NSA IPA NSB IPB  (addresses without prefix; /24 is used)
    local a=$1 ipa=$2 b=$3 ipb=$4 va vb
    _NS_SEQ=$((_NS_SEQ + 1))
    va="vb$$x${_NS_SEQ}a"
    vb="vb$$x${_NS_SEQ}b"
    ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b" ||
        fail "cannot create the veth pair $va/$vb"
    ip -n "$a" addr add "$ipa/24" dev "$va"
    ip -n "$b" addr add "$ipb/24" dev "$vb"
    ip -n "$a" link set "$va" up
    ip -n "$b" link set "$vb" up
    # Wait until the link passes traffic: a TCP connect to a closed port of the other end is
    # refused at once (an RST came back) once the link is up.
    for _ in $(seq 1 50); do
        if [[ "$(ip netns exec "$a" timeout 2 bash -c "exec 3<>/dev/tcp/$ipb/9" 2>&1)" == *refused* ]]; then
            return 0
        fi
        sleep 0.1
    done
    fail "veth link $ipa <-> $ipb does not pass traffic"
}

# A /24 subnet octet for this test run: 10.77.<octet>.x, different for concurrent runs.
subnet_octet() {
    echo $(( ($$ % 250) + 1 ))
}

# ------------------------------------------------------------------------------------------
# opentracker

# tracker_start NAME IP PORT NS HASH...  (NS may be "" for the current namespace)
tracker_start() {
    local name=$1 ip=$2 port=$3 ns=$4
    shift 4
    need opentracker
    local dir=$T/tracker-$name
    mkdir -p "$dir"
    chmod 755 "$dir"
    printf '%s\n' "$@" >"$dir/whitelist"
    chmod 644 "$dir/whitelist"
    # opentracker chroots into -d DIR and drops root, then reads the whitelist: the path
    # is inside the chroot and the file must be world-readable.
    if [ -n "$ns" ]; then
        start "$name" ip netns exec "$ns" opentracker -i "$ip" -p "$port" -P "$port" -d "$dir" -w /whitelist
    else
        start "$name" opentracker -i "$ip" -p "$port" -P "$port" -d "$dir" -w /whitelist
    fi
    for _ in $(seq 1 50); do
        if ${ns:+ip netns exec "$ns"} "$PY" -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$ip" "$port" 2>/dev/null; then
            if grep -q "Can't open accesslist" "$T/log/$name.err" 2>/dev/null; then
                fail "opentracker cannot read its whitelist: $(cat "$T/log/$name.err")"
            fi
            return 0
        fi
        alive "$name" || { _reap "$name"; fail "opentracker exited (status $RC): $(cat "$T/log/$name.err")"; }
        sleep 0.1
    done
    fail "timeout: opentracker does not accept connections on $ip:$port"
}

# ------------------------------------------------------------------------------------------
# transmission-daemon (always in a namespace of its own: it refuses peers on 127.0.0.0/8)

declare -A _TR_NS=()

# tr_start NAME NS BIND_IP PEER_PORT DOWNLOAD_DIR [UTP [ENCRYPTION]]
tr_start() {
    local name=$1 ns=$2 ip=$3 pport=$4 dl=$5 utp=${6:-false} enc=${7:-1}
    need transmission-daemon transmission-remote
    local conf=$T/tr-$name
    mkdir -p "$conf" "$dl"
    # uTP off by default (Transmission's default is on; UTP=true keeps it), no DHT/LPD/PEX/port
    # mapping, encryption as Transmission's default (1 = "prefer encrypted": its outgoing
    # connections start with MSE, docs/mse.md; 0 = "prefer unencrypted"), RPC on the namespace's
    # own loopback only.
    cat >"$conf/settings.json" <<EOF
{
    "bind-address-ipv4": "$ip",
    "bind-address-ipv6": "::1",
    "peer-port": $pport,
    "peer-port-random-on-start": false,
    "port-forwarding-enabled": false,
    "utp-enabled": $utp,
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "encryption": $enc,
    "download-dir": "$dl",
    "incomplete-dir-enabled": false,
    "rename-partial-files": false,
    "start-added-torrents": true,
    "download-queue-enabled": false,
    "seed-queue-enabled": false,
    "queue-stalled-enabled": false,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "speed-limit-up-enabled": false,
    "speed-limit-down-enabled": false,
    "alt-speed-enabled": false,
    "blocklist-enabled": false,
    "message-level": 2,
    "rpc-enabled": true,
    "rpc-bind-address": "127.0.0.1",
    "rpc-port": 9091,
    "rpc-authentication-required": false,
    "rpc-whitelist-enabled": false,
    "rpc-host-whitelist-enabled": false,
    "umask": 18
}
EOF
    _TR_NS[$name]=$ns
    start "$name" ip netns exec "$ns" transmission-daemon -f -g "$conf"
    for _ in $(seq 1 100); do
        if ip netns exec "$ns" transmission-remote 127.0.0.1:9091 -l >/dev/null 2>&1; then
            return 0
        fi
        alive "$name" || { _reap "$name"; fail "transmission-daemon exited (status $RC): $(tail -n 20 "$T/log/$name.err")"; }
        sleep 0.1
    done
    fail "timeout: transmission-daemon's RPC does not answer in namespace $ns"
}

tr_remote() { # NAME ARGS...
    local name=$1
    shift
    ip netns exec "${_TR_NS[$name]}" transmission-remote 127.0.0.1:9091 "$@"
}

# Percent done of torrent 1 as an integer (0..100), or -1 when unknown.
tr_percent() {
    local info p
    info=$(tr_remote "$1" -t 1 -i 2>/dev/null || true)
    p=$(printf '%s\n' "$info" | sed -n 's/^ *Percent Done: *\([0-9.]*\)%.*/\1/p' | head -n1)
    [ -n "$p" ] && printf '%.0f\n' "${p%.*}" || echo -1
}

tr_wait_done() { # NAME SECS
    local name=$1 secs=$2 deadline info
    deadline=$(($(date +%s) + secs))
    while :; do
        info=$(tr_remote "$name" -t 1 -i 2>/dev/null || true)
        if printf '%s\n' "$info" | grep -Eq '^ *Percent Done: *100(\.0)?%' &&
            printf '%s\n' "$info" | grep -Eq '^ *State: *(Seeding|Idle|Finished)'; then
            return 0
        fi
        if printf '%s\n' "$info" | grep -Eq '^ *Error:'; then
            note "transmission reports: $(printf '%s\n' "$info" | grep -E '^ *Error:')"
        fi
        alive "$name" || { _reap "$name"; fail "transmission-daemon $name exited (status $RC)"; }
        if [ "$(date +%s)" -ge "$deadline" ]; then
            printf '%s\n' "$info" >"$T/log/$name.info"
            tr_remote "$name" -t 1 -pi >>"$T/log/$name.info" 2>&1 || true
            tr_remote "$name" -t 1 -it >>"$T/log/$name.info" 2>&1 || true
            fail "timeout: transmission ($name) not done after $secs s: $(printf '%s\n' "$info" | grep -E 'State|Percent Done|Have|Peers|Error' | tr '\n' ';')"
        fi
        sleep 0.5
    done
}

# aria2_summary NAME: where an aria2c run got to (its last progress line and result line).
aria2_summary() {
    local f=$T/log/$1.out prog res
    prog=$(grep -aoE '\[#[0-9a-f]+ [^]]*\]' "$f" | tail -n1 || true)
    res=$(grep -aE '^[0-9a-f]{6}\|' "$f" | tail -n1 || true)
    echo "last status ${prog:-none}; result ${res:-none}"
}

# ------------------------------------------------------------------------------------------
# btt's output

# btt_field TORRENT KEY: the value of "KEY: VALUE" in `btt info` (first word only).
btt_field() {
    local v
    v=$("$BTT" info "$1" | sed -n "s/^$2: \([^ ]*\).*/\1/p" | head -n1)
    [ -n "$v" ] || fail "btt info $1 printed no '$2:' line"
    echo "$v"
}

# btt_files TORRENT: "INDEX SIZE PAD PATH" per file, in `btt info` order (PAD is 1 or 0).
btt_files() {
    "$BTT" info "$1" | awk '
        /^files:/ { on = 1; next }
        on && /^  [0-9]+ / {
            size = $2; pad = 0
            line = $0; sub(/^  [0-9]+ /, "", line)
            if (line ~ / \[pad\]$/) { pad = 1; sub(/ \[pad\]$/, "", line) }
            print n++, size, pad, line
        }'
}

# have_count NAME: H from "have: H/N pieces verified" (waits up to 60 s for the line).
have_count() {
    local line
    line=$(wait_line "$1" '^have: [0-9]+/[0-9]+ pieces verified' 60 "the startup check")
    echo "$line" | sed -E 's/^have: ([0-9]+)\/.*/\1/'
}

# progress_permille NAME: the latest progress of NAME in 1/1000, from its last "progress:" line
# (the first "X/Y" pair in it, else the first "P%"), or -1 when there is none.
progress_permille() {
    local line
    line=$(grep -E '^progress:' "$T/log/$1.out" 2>/dev/null | tail -n1 || true)
    [ -n "$line" ] || { echo -1; return; }
    "$PY" - "$line" <<'PYEOF'
import re, sys
s = sys.argv[1]
m = re.search(r"(\d+)\s*/\s*(\d+)", s)
if m and int(m.group(2)) > 0:
    print(1000 * int(m.group(1)) // int(m.group(2)))
else:
    m = re.search(r"(\d+(?:\.\d+)?)\s*%", s)
    print(int(float(m.group(1)) * 10) if m else -1)
PYEOF
}

# bytes_on_disk PATH...: allocated bytes (sparse-aware) of the given files/dirs
bytes_on_disk() {
    du -s -B1 "$@" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}
