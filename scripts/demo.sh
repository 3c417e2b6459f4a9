#!/bin/bash
# The main job on embedded defaults: a local BitTorrent Speed market, on loopback only.
#
#   a BTT ledger (SQLite, a test genesis)  ->  wallets for a seeder and three downloaders, each
#   funded by the faucet's proof of work  ->  a 48 MiB torrent seeded by btt with a reserve price,
#   two upload slots and a 6 MiB/s upload limit (so the market is visible)  ->  three btt
#   downloaders with different budgets bid for the slots (AutoBid), and a libtorrent downloader
#   that knows nothing of Speed takes what is left  ->  a live table of who is bidding, who is
#   being sold to at what uniform rate, and what everyone has paid  ->  the seeder settles its
#   channels on the ledger, and the final balances are checked to add up exactly.
#
# Builds btt first (release preset). Dependencies: scripts/install-deps.sh (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release > /dev/null
cmake --build --preset release -j "$(nproc)" > /dev/null
repo=$PWD
btt=$PWD/build/release/btt
probe=$PWD/build/release/tests/unit/ledger/ledger_client_probe
[ -x "$probe" ] || { echo "demo: $probe is missing (configure with tests on)" >&2; exit 1; }

work=$(mktemp -d /tmp/btt-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export BTT_WALLET_PASSWORD=demo BTT_DHT_BOOTSTRAP=none
cd "$work"

wait_for() { # FILE ERE: waits for a line, prints it
    for _ in $(seq 300); do
        if grep -Eq "$2" "$1" 2> /dev/null; then grep -E -m1 "$2" "$1"; return 0; fi
        sleep 0.1
    done
    echo "demo: no line matching '$2' in $1:" >&2
    cat "$1" >&2
    exit 1
}
units() { curl -s "$L/v1/accounts/$("$btt" wallet address "$1.wallet")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["balance_units"])'; }
btt_of() { python3 -c "import sys; u=int(sys.argv[1]); print(('-' if u<0 else '')+str(abs(u)//10**6)+('.'+str(abs(u)%10**6).rjust(6,'0').rstrip('0') if abs(u)%10**6 else ''))" "$1"; }

echo "== a BTT ledger on 127.0.0.1 (SQLite, group commit)"
"$probe" genesis demo-net > genesis.txt
"$btt" ledger serve --db ledger.sqlite --genesis genesis.txt --listen 127.0.0.1:0 > ledger.out 2> ledger.err &
pids+=($!)
L=http://$(wait_for ledger.out '^listening on ' | sed 's/^listening on //')
echo "   $L: $(curl -s "$L/v1/info" | python3 -c 'import json,sys; i=json.load(sys.stdin); print("ledger", i["name"], "supply", i["supply"], "BTT, faucet", i["faucet_grant"], "BTT")')"

echo "== wallets, funded by the faucet (a proof of work each)"
for w in seeder alice bob carol; do
    "$btt" wallet new $w.wallet > /dev/null
    "$btt" wallet faucet $w.wallet --ledger "$L" > /dev/null 2>&1
    printf '   %-7s %s  %s BTT\n' $w "$("$btt" wallet address $w.wallet)" "$(btt_of "$(units $w)")"
done
declare -A before
for w in seeder alice bob carol; do before[$w]=$(units $w); done

echo "== a 48 MiB torrent, seeded with a reserve price of 2 uBTT/KiB, 2 upload slots, 6 MiB/s"
mkdir -p data
head -c $((48 << 20)) /dev/urandom > data/film.bin
"$btt" create data/film.bin -o film.torrent -p 256 > /dev/null
BTT_STATE_DIR=$work/state/seeder "$btt" seed film.torrent -d data --bind 127.0.0.1 --port 0 --no-trackers \
    --wallet seeder.wallet --ledger "$L" --reserve-price 2 --slots 2 --max-upload 6M -v > seeder.out 2> seeder.err &
seeder=$!
pids+=($seeder)
port=$(wait_for seeder.out '^listening on ' | sed 's/.*://')

echo "== three btt downloaders bid (budgets 1, 0.5 and 0.1 BTT); a libtorrent downloader does not"
declare -A budget=([alice]=1 [bob]=0.5 [carol]=0.1)
declare -A dl
for w in alice bob carol; do
    BTT_STATE_DIR=$work/state/$w "$btt" get film.torrent -d dl-$w --bind 127.0.0.1 --port 0 --no-trackers \
        --peer 127.0.0.1:"$port" --wallet $w.wallet --ledger "$L" --max-spend "${budget[$w]}" -v > $w.out 2> $w.err &
    dl[$w]=$!
    pids+=($!)
done
legacy=
if /usr/bin/python3 -c 'import libtorrent' 2> /dev/null; then
    /usr/bin/python3 "$repo/tests/interop/swarm/lt_get.py" film.torrent dl-libtorrent --peer 127.0.0.1:"$port" --timeout 120 \
        > libtorrent.out 2>&1 &
    legacy=$!
    pids+=($legacy)
fi

printf '\n%-9s %7s %9s %8s %8s %12s   %s\n' peer done down bid paying spent "sold by the seeder at (uBTT/KiB)"
done_all=0
for _ in $(seq 240); do
    done_all=1
    for w in alice bob carol; do
        line=$(grep -E '^progress:|^complete:' $w.out | tail -1 || true)
        pct=$(sed -n 's/^progress: \([0-9.]*%\).*/\1/p' <<< "$line")
        down=$(sed -n 's/.* down \([^ ]* [^ ]*\) up.*/\1/p' <<< "$line")
        bid=$(sed -n 's/.* bid \([0-9]*\) .*/\1/p' <<< "$line")
        paying=$(sed -n 's/.* paying \([0-9]*\) .*/\1/p' <<< "$line")
        spent=$(sed -n 's/.* spent \([0-9.]*\) BTT.*/\1/p' <<< "$line")
        acct=$("$btt" wallet address $w.wallet)
        sold=$({ grep -o "selling to $acct at [0-9]*/KiB" seeder.err || true; } | sed 's/.* at //' | tr '\n' ' ' | cut -c1-40)
        if grep -q '^complete:' $w.out; then pct=100%; down=-; fi
        printf '%-9s %7s %9s %8s %8s %12s   %s\n' $w "${pct:--}" "${down:--}" "${bid:--}" "${paying:--}" "${spent:-0}" "${sold:--}"
        kill -0 "${dl[$w]}" 2> /dev/null && done_all=0
    done
    if [ -n "$legacy" ]; then
        lt=$(tail -c 300 libtorrent.out | tr '\r' '\n' | { grep -v '^$' || true; } | tail -1 | cut -c1-50)
        printf '%-9s %s\n' libtorrent "${lt:-connecting} (legacy: free slots only)"
        kill -0 "$legacy" 2> /dev/null && done_all=0
    fi
    echo
    [ "$done_all" = 1 ] && break
    sleep 2
done
for w in alice bob carol; do wait "${dl[$w]}" || { echo "demo: $w's download failed" >&2; tail $w.err >&2; exit 1; }; done
[ -z "$legacy" ] || wait "$legacy" || { echo "demo: the libtorrent download failed" >&2; tail libtorrent.out >&2; exit 1; }
for w in alice bob carol; do cmp -s data/film.bin dl-$w/film.bin || { echo "demo: $w's copy differs" >&2; exit 1; }; done
[ -z "$legacy" ] || cmp -s data/film.bin dl-libtorrent/film.bin || { echo "demo: libtorrent's copy differs" >&2; exit 1; }
echo "== every copy is identical to the original; the seeder settles its channels as it stops"
kill -INT "$seeder"
wait "$seeder" || true
grep -h 'speed: settled' seeder.err | sed 's/^.*speed: /   /'

echo "== final balances"
sum_spent=0
for w in alice bob carol; do
    spent=$(sed -n 's/^speed: spent \([0-9.]*\) BTT.*/\1/p' $w.out)
    u=$(units $w)
    d=$((before[$w] - u))
    printf '   %-7s %12s BTT   spent %s BTT (printed %s)\n' $w "$(btt_of "$u")" "$(btt_of $d)" "$spent"
    [ "$(btt_of $d)" = "$spent" ] || { echo "demo: $w's balance moved by $(btt_of $d), it printed $spent" >&2; exit 1; }
    sum_spent=$((sum_spent + d))
done
u=$(units seeder)
earned=$((u - before[seeder]))
printf '   %-7s %12s BTT   earned %s BTT\n' seeder "$(btt_of "$u")" "$(btt_of $earned)"
[ "$earned" = "$sum_spent" ] || { echo "demo: the seeder earned $earned units, the downloaders spent $sum_spent" >&2; exit 1; }
inv=$(curl -s "$L/v1/invariant")
python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["ok"] else 1)' "$inv" ||
    { echo "demo: the ledger's invariant is broken: $inv" >&2; exit 1; }
echo "   what the downloaders spent is exactly what the seeder earned; balances + locked = supply"
echo
echo "demo: done. Each downloader's history: btt wallet history WALLET --state-dir DIR (e.g. alice):"
"$btt" wallet history alice.wallet --state-dir "$work/state/alice" | sed 's/^/   /'
