/* cmd_get.c - btt get (download, then exit or seed) and btt seed (verify and serve). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "btt/bencode.h"
#include "btt/log.h"
#include "btt/magnet.h"
#include "btt/metafetch.h"
#include "btt/path.h"
#include "btt/session.h"
#include "cli/cli.h"
#include "cli/cli_speed.h"

#define MAX_PEERS_ARG 256
#define MAX_DHT_NODES_ARG 64

enum { OPT_NO_DHT = 2000, OPT_DHT_NODE, OPT_DHT_READ_ONLY, OPT_ENCRYPTION };
#define CLI_DHT_HELP                                                                                      \
    "      --no-dht           no DHT (BEP 5; always off for private torrents)\n"                        \
    "      --dht-node HOST:PORT  bootstrap the DHT from this node (repeatable); without it\n"           \
    "                         $BTT_DHT_BOOTSTRAP (comma-separated, or none), else public routers\n"    \
    "      --dht-read-only    query the DHT but answer no queries (BEP 43)\n"

static const char get_help[] =
    "usage: btt get FILE.torrent -d DIR [options]\n"
    "       btt get 'magnet:?xt=urn:btih:...' -d DIR [options]\n"
    "\n"
    "Downloads a torrent into DIR (DIR/NAME for one file, DIR/NAME/... for several), verifying\n"
    "every piece, and exits 0 when done. Peers come from the torrent's trackers, the DHT and\n"
    "--peer.\n"
    "Progress survives restarts: stopping (Ctrl-C) saves what was verified.\n"
    "A magnet link first fetches the torrent's info from peers (x.pe=, tr= trackers, --peer;\n"
    "BEP 9), checks it against the info-hash, then downloads as from a .torrent.\n"
    "\n"
    "  -d, --dir DIR          download directory, made if missing (default: .)\n"
    "      --peer HOST:PORT   connect to this peer (repeatable; numeric addresses)\n"
    "      --bind ADDR        local address to listen on and connect from (default: all\n"
    "                         IPv6 and IPv4 addresses)\n"
    "      --port N           listen port (default 6881; 0 picks a free one)\n"
    "      --seed             keep seeding after the download until stopped\n"
    "      --sequential       download pieces in order (for streaming)\n"
    "      --files LIST       only these files: 0-based indexes as 'btt info' lists them, e.g. 0,2-4\n"
    "      --no-trackers      do not contact the torrent's trackers\n"
    "      --no-utp           TCP only (no uTP)\n"
    "      --no-tcp           uTP only (no TCP listener, no TCP connections)\n"
    "      --encryption M     allow (default: incoming MSE or plaintext, outgoing plaintext) or\n"
    "                         require (MSE with RC4 on every connection; docs/mse.md)\n"
    CLI_DHT_HELP
    "      --no-pex           no peer exchange (BEP 11; never used for private torrents)\n"
    "      --save-torrent F   magnet: write the fetched torrent to F (a .torrent file)\n"
    "      --metadata-timeout S  magnet: give up (exit 1) if the info has not arrived after S s\n"
    "      --max-peers N      connections per torrent (default 60)\n"
    "      --slots N          upload slots (default 4)\n"
    "      --max-upload RATE  upload at most RATE bytes/s in all (suffix K or M: KiB/s, MiB/s)\n"
    "  -v, --verbose          log peers and trackers to stderr (twice: debug)\n"
    "  -h, --help             this help\n" CLI_SPEED_HELP;

static const char seed_help[] =
    "usage: btt seed FILE.torrent -d DIR [options]\n"
    "\n"
    "Verifies the data of a torrent in DIR and serves it to peers until stopped (Ctrl-C).\n"
    "Prints 'listening on ADDR:PORT' once ready.\n"
    "\n"
    "  -d, --dir DIR          directory holding the data (default: .)\n"
    "      --peer HOST:PORT   also connect to this peer (repeatable)\n"
    "      --bind ADDR        local address (default: all IPv6 and IPv4 addresses)\n"
    "      --port N           listen port (default 6881; 0 picks a free one)\n"
    "      --no-trackers      do not contact the torrent's trackers\n"
    "      --no-utp           TCP only (no uTP)\n"
    "      --no-tcp           uTP only (no TCP listener, no TCP connections)\n"
    "      --encryption M     allow (default: incoming MSE or plaintext, outgoing plaintext) or\n"
    "                         require (MSE with RC4 on every connection; docs/mse.md)\n"
    CLI_DHT_HELP
    "      --no-pex           no peer exchange (BEP 11; never used for private torrents)\n"
    "      --max-peers N      connections (default 60)\n"
    "      --slots N          upload slots (default 4)\n"
    "      --max-upload RATE  upload at most RATE bytes/s (suffix K or M: KiB/s, MiB/s)\n"
    "  -v, --verbose          log peers and trackers to stderr (twice: debug)\n"
    "  -h, --help             this help\n" CLI_SPEED_HELP;

typedef struct app {
    const char *cmd;
    uv_loop_t loop;
    btt_session *s;
    btt_torrent *t;
    uv_signal_t sigint, sigterm;
    uv_timer_t status;
    bool seed_after, tty, stopping;
    int rc;
    uint64_t start_ns, complete_ns;
    size_t last_line_len;
    bool speed;
    btt_torrent_stats last; /* the torrent's stats when it was last seen (for the final summary) */
    /* a magnet link: the info is fetched first (btt/metafetch.h), then the torrent is added */
    btt_metafetch *mf;
    bool mf_closing, close_after_mf;
    btt_magnet *mag;
    const char *save_torrent;
    uint64_t meta_timeout_ms;
    btt_torrent_opts to;
    const btt_addr *peers;
    size_t npeers;
} app;

/* " bid 12 paying 10 spent 0.5 BTT" or " reserve 3 earned 1.2 BTT" (prices in uBTT/KiB) */
static void speed_status(const btt_torrent_stats *st, char *out, size_t cap)
{
    out[0] = '\0';
    if (!st->speed) return;
    char spent[BTT_AMOUNT_STRLEN], earned[BTT_AMOUNT_STRLEN];
    btt_amount_format(st->spent, spent);
    btt_amount_format(st->earned, earned);
    if (!st->complete)
        snprintf(out, cap, "  bid %llu paying %llu spent %s BTT", (unsigned long long)st->bid,
                 (unsigned long long)st->rate_paid, spent);
    else
        snprintf(out, cap, "  reserve %llu earned %s BTT", (unsigned long long)st->reserve, earned);
}

static void clear_tty_line(app *a)
{
    if (a->tty && a->last_line_len) {
        fprintf(stderr, "\r%*s\r", (int)a->last_line_len, "");
        a->last_line_len = 0;
    }
}

static void meta_status(app *a)
{
    btt_metafetch_stats ms;
    btt_metafetch_stats_get(a->mf, &ms);
    char line[160];
    if (ms.pieces_total)
        snprintf(line, sizeof line, "metadata: %u/%u pieces from %u peers", ms.pieces_have, ms.pieces_total, ms.peers);
    else
        snprintf(line, sizeof line, "metadata: waiting for a peer that has it (%u connected, %u known)", ms.connected,
                 ms.candidates);
    if (a->tty) {
        int n = fprintf(stderr, "\r%s", line);
        if (n > 0 && (size_t)n < a->last_line_len) fprintf(stderr, "%*s", (int)(a->last_line_len - (size_t)n), "");
        a->last_line_len = n > 0 ? (size_t)n : 0;
        fflush(stderr);
    } else {
        printf("%s\n", line);
    }
}

static void stop(app *a);

static void status_line(app *a, bool final)
{
    if (a->mf && !final) {
        uint64_t waited = (cli_now_ns() - a->start_ns) / 1000000;
        if (a->meta_timeout_ms && waited >= a->meta_timeout_ms) {
            btt_metafetch_stats ms;
            btt_metafetch_stats_get(a->mf, &ms);
            clear_tty_line(a);
            cli_error(a->cmd, "no metadata after %llu s (%u peers known, %u connected, %u offering it)",
                      (unsigned long long)(a->meta_timeout_ms / 1000), ms.candidates, ms.connected, ms.peers);
            a->rc = CLI_ERROR;
            stop(a);
            return;
        }
        meta_status(a);
        return;
    }
    if (!a->t) return;
    btt_torrent_stats st;
    btt_torrent_stats_get(a->t, &st);
    a->last = st;
    char down[32], up[32], sp[128];
    speed_status(&st, sp, sizeof sp);
    double pct = st.bytes_wanted ? 100.0 * (double)st.bytes_have / (double)st.bytes_wanted : 100.0;
    if (pct > 100.0) pct = 100.0;
    uint64_t left = st.bytes_wanted > st.bytes_have ? st.bytes_wanted - st.bytes_have : 0;
    char eta[32] = "-";
    if (st.down_rate && left) {
        uint64_t s = left / st.down_rate;
        snprintf(eta, sizeof eta, "%llu:%02llu", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
    }
    cli_human_size(st.down_rate, down);
    cli_human_size(st.up_rate, up);
    if (a->tty && !final) {
        int n = fprintf(stderr, "\r%5.1f%%  down %s/s  up %s/s  peers %u (%u seeds)  eta %s%s", pct, down, up,
                        st.peers, st.seeds, eta, sp);
        if (n > 0 && (size_t)n < a->last_line_len)
            fprintf(stderr, "%*s", (int)(a->last_line_len - (size_t)n), "");
        a->last_line_len = n > 0 ? (size_t)n : 0;
        fflush(stderr);
    } else if (!final) {
        printf("progress: %.1f%% down %s/s up %s/s peers %u eta %s%s\n", pct, down, up, st.peers, eta, sp);
    }
}

static void on_status(uv_timer_t *h) { status_line(h->data, false); }

static void clear_tty(app *a) { clear_tty_line(a); }

static void session_closed(void *ud)
{
    app *a = ud;
    a->s = NULL;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->status, NULL);
}

/* The metadata fetch closed (its announcer uses the session's tracker client): the session
 * may close now if it was asked to. */
static void mf_closed(void *ud)
{
    app *a = ud;
    a->mf_closing = false;
    if (a->close_after_mf) btt_session_close(a->s, session_closed, a);
}

static void close_mf(app *a)
{
    if (!a->mf) return;
    a->mf_closing = true;
    btt_metafetch_close(a->mf, mf_closed, a);
    a->mf = NULL;
}

static void stop(app *a)
{
    if (a->stopping) return;
    a->stopping = true;
    clear_tty(a);
    if (a->t) btt_torrent_stats_get(a->t, &a->last);
    a->t = NULL;
    close_mf(a);
    if (a->mf_closing) a->close_after_mf = true;
    else btt_session_close(a->s, session_closed, a);
}

static void on_signal(uv_signal_t *h, int sig)
{
    app *a = h->data;
    (void)sig;
    if (a->stopping) return;
    if (a->mf) {
        clear_tty(a);
        cli_error(a->cmd, "stopped before the torrent's info arrived; nothing was written");
        a->rc = CLI_ERROR;
    } else {
        fprintf(stderr, "btt %s: stopping (saving progress)\n", a->cmd);
    }
    stop(a);
}

static void on_ready(void *ud, btt_torrent *t)
{
    app *a = ud;
    btt_torrent_stats st;
    btt_torrent_stats_get(t, &st);
    btt_addr me = btt_session_listen_addr(a->s);
    char addr[BTT_ADDR_STRLEN];
    printf("have: %u/%u pieces verified\n", st.pieces_have, st.pieces_total);
    printf("listening on %s\n", btt_addr_format(&me, addr));
    fflush(stdout);
}

static void on_complete(void *ud, btt_torrent *t)
{
    app *a = ud;
    btt_torrent_stats st;
    btt_torrent_stats_get(t, &st);
    double secs = (double)(cli_now_ns() - a->start_ns) / 1e9;
    clear_tty(a);
    if (!strcmp(a->cmd, "get"))
        printf("complete: downloaded %llu bytes in %.2f s\n", (unsigned long long)st.downloaded, secs);
    else if (st.pieces_have < st.pieces_total)
        fprintf(stderr, "btt seed: warning: only %u of %u pieces are present; serving those\n", st.pieces_have,
                st.pieces_total);
    fflush(stdout);
    if (!a->seed_after) stop(a);
}

static void on_error(void *ud, btt_torrent *t, const btt_error *err)
{
    app *a = ud;
    (void)t;
    clear_tty(a);
    cli_btt_error(a->cmd, err);
    a->rc = CLI_ERROR;
    stop(a);
}

/* "8M" -> 8 MiB, "500K", "100000": bytes (per second), 1 B to 1 TiB */
static bool parse_rate(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') return false;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    if (*end || v == 0 || v > (1ULL << 40) >> shift) return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* "0,2-4" -> indexes */
static int parse_files(const char *s, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    while (*s) {
        char *end;
        unsigned long a = strtoul(s, &end, 10), b = a;
        if (end == s) return -1;
        s = end;
        if (*s == '-') {
            b = strtoul(s + 1, &end, 10);
            if (end == s + 1 || b < a) return -1;
            s = end;
        }
        if (*s == ',') s++;
        else if (*s) return -1;
        if (b - a > 1000000 || *n + (b - a + 1) > 1000000) return -1;
        uint32_t *v = realloc(*out, (*n + (b - a + 1)) * sizeof *v);
        if (!v) return -1;
        *out = v;
        for (unsigned long i = a; i <= b; i++) (*out)[(*n)++] = (uint32_t)i;
    }
    return *n ? 0 : -1;
}

/* Adds the torrent (the session takes mi) and the peers; false on error (reported). */
static bool start_torrent(app *a, btt_metainfo *mi, const btt_addr *extra, size_t nextra)
{
    btt_error err = {0};
    if (!a->to.seed_only) { /* a download directory that does not exist yet is made */
        char *probe = btt_path_join(a->to.dir, "x");
        btt_err e = probe ? btt_path_mkparents(probe, &err) : btt_error_set(&err, BTT_ENOMEM, "out of memory");
        free(probe);
        if (e) {
            btt_metainfo_free(mi);
            cli_btt_error(a->cmd, &err);
            return false;
        }
    }
    if (btt_torrent_add(a->s, mi, &a->to, &a->t, &err)) {
        cli_btt_error(a->cmd, &err);
        btt_metainfo_free(mi);
        return false;
    }
    /* a torrent found complete at once may already be stopping (and a.t cleared) */
    for (size_t i = 0; i < a->npeers && a->t && !a->stopping; i++) btt_torrent_add_peer(a->t, &a->peers[i]);
    for (size_t i = 0; i < nextra && a->t && !a->stopping; i++) btt_torrent_add_peer(a->t, &extra[i]);
    return true;
}

/* A .torrent around the fetched info: announce and announce-list from tr=, then the info bytes
 * exactly as they came (so the info-hash is the magnet's). */
static btt_err torrent_bytes(const btt_magnet *m, const uint8_t *info, size_t len, btt_buf *b)
{
    btt_err e = btt_benc_dict(b);
    if (m->num_trackers) {
        e |= btt_benc_cstr(b, "announce");
        e |= btt_benc_cstr(b, m->trackers[0]);
        e |= btt_benc_cstr(b, "announce-list");
        e |= btt_benc_list(b);
        for (size_t i = 0; i < m->num_trackers; i++) { /* one tier each, in the link's order */
            e |= btt_benc_list(b);
            e |= btt_benc_cstr(b, m->trackers[i]);
            e |= btt_benc_end(b);
        }
        e |= btt_benc_end(b);
    }
    e |= btt_benc_cstr(b, "info");
    e |= btt_benc_raw(b, info, len);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

static btt_err write_file(const char *path, const uint8_t *p, size_t len, btt_error *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.part", path) >= sizeof tmp)
        return btt_error_set(err, BTT_EINVAL, "%s: path too long", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return btt_error_errno(err, errno, tmp);
    bool ok = fwrite(p, 1, len, fp) == len;
    ok &= fclose(fp) == 0;
    if (!ok || rename(tmp, path) != 0) {
        btt_err e = btt_error_errno(err, errno ? errno : EIO, path);
        remove(tmp);
        return e;
    }
    return BTT_OK;
}

static void on_meta_done(void *ud, btt_metafetch *f, const uint8_t *info, size_t len)
{
    app *a = ud;
    btt_error err = {0};
    btt_buf b;
    btt_buf_init(&b, (size_t)64 << 20);
    btt_metainfo *mi = NULL;
    clear_tty(a);
    if (torrent_bytes(a->mag, info, len, &b)) {
        btt_error_set(&err, BTT_ENOMEM, "out of memory");
        goto fail;
    }
    if (btt_metainfo_parse(b.data, b.len, &mi, &err)) {
        btt_error_prefix(&err, "the torrent's info (it matches the info-hash)");
        goto fail;
    }
    if (memcmp(mi->info_hash, a->mag->info_hash, 20) != 0) { /* the bytes were checked: cannot happen */
        btt_error_set(&err, BTT_EPROTO, "the parsed info does not match the info-hash");
        goto fail;
    }
    if (a->save_torrent && write_file(a->save_torrent, b.data, b.len, &err)) goto fail;
    btt_buf_free(&b);
    char hex[41];
    btt_metainfo_hash_hex(mi, hex);
    printf("metadata: %zu bytes, info-hash %s verified: ", len, hex);
    cli_put_safe(mi->name);
    printf("\n");
    if (a->save_torrent) printf("saved %s\n", a->save_torrent);
    fflush(stdout);
    btt_addr known[256];
    size_t nknown = btt_metafetch_peers(f, known, sizeof known / sizeof known[0]);
    close_mf(a);
    if (!a->to.files && a->mag->num_select) { /* BEP 53 so= when --files was not given */
        a->to.files = a->mag->select;
        a->to.num_files = a->mag->num_select;
    }
    if (!start_torrent(a, mi, known, nknown)) {
        a->rc = CLI_ERROR;
        stop(a);
    }
    return;
fail:
    btt_buf_free(&b);
    btt_metainfo_free(mi);
    cli_btt_error(a->cmd, &err);
    a->rc = CLI_ERROR;
    stop(a);
}

static int run(const char *cmd, int argc, char **argv, bool seed_cmd)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},      {"peer", required_argument, NULL, 'P'},
        {"bind", required_argument, NULL, 'b'},     {"port", required_argument, NULL, 'p'},
        {"seed", no_argument, NULL, 's'},           {"sequential", no_argument, NULL, 'S'},
        {"files", required_argument, NULL, 'f'},    {"no-trackers", no_argument, NULL, 'T'},
        {"max-peers", required_argument, NULL, 'm'}, {"slots", required_argument, NULL, 'u'},
        {"verbose", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
        {"max-upload", required_argument, NULL, 'U'}, {"no-utp", no_argument, NULL, 'Y'},
        {"no-tcp", no_argument, NULL, 'Z'},         {"no-dht", no_argument, NULL, OPT_NO_DHT},
        {"encryption", required_argument, NULL, OPT_ENCRYPTION},
        {"dht-node", required_argument, NULL, OPT_DHT_NODE},
        {"dht-read-only", no_argument, NULL, OPT_DHT_READ_ONLY}, {"no-pex", no_argument, NULL, 'X'},
        {"save-torrent", required_argument, NULL, 'W'}, {"metadata-timeout", required_argument, NULL, 'M'},
        CLI_SPEED_OPTIONS, {NULL, 0, NULL, 0}};
    const char *dht_nodes[MAX_DHT_NODES_ARG];
    cli_speed sp;
    cli_speed_init(&sp);
    const char *dir = ".";
    const char *peers[MAX_PEERS_ARG];
    size_t npeers = 0;
    btt_session_opts so = {.port = 6881};
    btt_torrent_opts to = {0};
    bool seed_after = seed_cmd;
    uint32_t *files = NULL;
    size_t nfiles = 0;
    int verbose = 0, c, rc = CLI_ERROR;
    const char *save_torrent = NULL;
    uint64_t meta_timeout_ms = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:vh", opts, NULL)) != -1) {
        char *end;
        long v;
        switch (c) {
        case 'd': dir = optarg; break;
        case 'P':
            if (npeers == MAX_PEERS_ARG) return cli_error(cmd, "too many --peer options");
            peers[npeers++] = optarg;
            break;
        case 'b': so.bind = optarg; break;
        case 'p':
            v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 65535) return cli_error(cmd, "--port %s: expected 0 to 65535", optarg);
            so.port = (uint16_t)v;
            break;
        case 's': seed_after = true; break;
        case 'S': to.sequential = true; break;
        case 'f':
            free(files);
            if (parse_files(optarg, &files, &nfiles)) {
                free(files);
                return cli_error(cmd, "--files %s: expected indexes like 0,2-4", optarg);
            }
            break;
        case 'T': so.no_trackers = true; break;
        case 'Y': so.no_utp = true; break;
        case 'Z': so.no_tcp = true; break;
        case OPT_NO_DHT: so.no_dht = true; break;
        case OPT_ENCRYPTION:
            if (!strcmp(optarg, "require")) so.require_encryption = true;
            else if (strcmp(optarg, "allow")) return cli_error(cmd, "--encryption %s: expected allow or require", optarg);
            break;
        case OPT_DHT_READ_ONLY: so.dht_read_only = true; break;
        case OPT_DHT_NODE:
            if (so.num_dht_nodes == MAX_DHT_NODES_ARG) return cli_error(cmd, "too many --dht-node options");
            if (!strchr(optarg, ':')) return cli_error(cmd, "--dht-node %s: expected HOST:PORT", optarg);
            dht_nodes[so.num_dht_nodes++] = optarg;
            so.dht_nodes = dht_nodes;
            break;
        case 'X': so.no_pex = true; break;
        case 'W':
            if (seed_cmd) return cli_usage_error(cmd);
            save_torrent = optarg;
            break;
        case 'M':
            v = strtol(optarg, &end, 10);
            if (seed_cmd || *end || v < 1 || v > 86400) return cli_error(cmd, "--metadata-timeout %s: expected 1 to 86400 seconds", optarg);
            meta_timeout_ms = (uint64_t)v * 1000;
            break;
        case 'm':
        case 'u':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 10000) return cli_error(cmd, "--%s %s: expected 1 to 10000", c == 'm' ? "max-peers" : "slots", optarg);
            if (c == 'm') so.max_peers = (uint32_t)v;
            else so.unchoke_slots = (uint32_t)v;
            break;
        case 'U':
            if (!parse_rate(optarg, &so.max_upload))
                return cli_error(cmd, "--max-upload %s: expected bytes per second, e.g. 500K or 8M", optarg);
            break;
        case 'v': verbose++; break;
        case 'h':
            fputs(seed_cmd ? seed_help : get_help, stdout);
            free(files);
            return CLI_OK;
        default:
            if (c >= CLI_SPEED_WALLET && c <= CLI_SPEED_CAP) {
                if (cli_speed_option(cmd, &sp, c, optarg) == CLI_OK) break;
                free(files);
                return CLI_ERROR;
            }
            free(files);
            return cli_usage_error(cmd);
        }
    }
    if (optind != argc - 1) {
        free(files);
        return cli_error(cmd, "expected one FILE.torrent%s; see 'btt %s --help'", seed_cmd ? "" : " or magnet link", cmd);
    }
    btt_log_set_level(verbose >= 2 ? BTT_LOG_DEBUG : verbose ? BTT_LOG_INFO : BTT_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    btt_addr peer_addrs[MAX_PEERS_ARG];
    btt_error err = {0};
    for (size_t i = 0; i < npeers; i++)
        if (btt_addr_parse(peers[i], &peer_addrs[i], &err)) {
            free(files);
            btt_error_prefix(&err, "--peer");
            return cli_btt_error(cmd, &err);
        }
    const char *src = argv[optind];
    bool magnet = strncmp(src, "magnet:", 7) == 0;
    btt_metainfo *mi = NULL;
    btt_magnet *mag = NULL;
    if (magnet && seed_cmd) {
        free(files);
        return cli_error(cmd, "a magnet link has no data to seed; give a .torrent");
    }
    if (save_torrent && !magnet) {
        free(files);
        return cli_error(cmd, "--save-torrent is for magnet links");
    }
    if (magnet ? btt_magnet_parse(src, &mag, &err) : btt_metainfo_load(src, &mi, &err)) {
        free(files);
        return cli_btt_error(cmd, &err);
    }
    if (!magnet && !seed_cmd) { /* a download directory that does not exist yet is made */
        char *probe = btt_path_join(dir, "x");
        btt_err e = probe ? btt_path_mkparents(probe, &err) : btt_error_set(&err, BTT_ENOMEM, "out of memory");
        free(probe);
        if (e) {
            btt_metainfo_free(mi);
            free(files);
            return cli_btt_error(cmd, &err);
        }
    }

    if (cli_speed_setup(cmd, &sp, &so) != CLI_OK) {
        btt_metainfo_free(mi);
        btt_magnet_free(mag);
        free(files);
        cli_speed_free(&sp);
        return CLI_ERROR;
    }
    app a = {.cmd = cmd, .seed_after = seed_after, .tty = isatty(STDERR_FILENO), .rc = CLI_OK,
             .start_ns = cli_now_ns(), .speed = so.speed.wallet != NULL, .mag = mag,
             .save_torrent = save_torrent, .meta_timeout_ms = meta_timeout_ms, .peers = peer_addrs,
             .npeers = npeers};
    uv_loop_init(&a.loop);
    signal(SIGPIPE, SIG_IGN);
    if (btt_session_new(&a.loop, &so, &a.s, &err)) {
        cli_btt_error(cmd, &err);
        btt_metainfo_free(mi);
        goto out;
    }
    to.dir = dir;
    to.seed_only = seed_cmd;
    to.files = files;
    to.num_files = nfiles;
    to.ud = &a;
    to.on_ready = on_ready;
    to.on_complete = on_complete;
    to.on_error = on_error;
    a.to = to;
    if (magnet) {
        btt_metafetch_opts fo = {.info_hash = mag->info_hash, .trackers = mag->trackers,
                                 .num_trackers = mag->num_trackers, .ud = &a, .on_done = on_meta_done};
        if (btt_metafetch_new(a.s, &fo, &a.mf, &err)) {
            cli_btt_error(cmd, &err);
            btt_session_close(a.s, NULL, NULL);
            uv_run(&a.loop, UV_RUN_DEFAULT);
            goto out;
        }
        for (size_t i = 0; i < mag->num_peers; i++) { /* x.pe: numeric addresses only */
            btt_addr pa;
            btt_error perr = {0};
            if (btt_addr_parse(mag->peers[i], &pa, &perr)) BTT_LOGW("cli", "x.pe=%s: %s", mag->peers[i], btt_error_str(&perr));
            else btt_metafetch_add_peer(a.mf, &pa);
        }
        for (size_t i = 0; i < npeers; i++) btt_metafetch_add_peer(a.mf, &peer_addrs[i]);
        if (!mag->num_peers && !npeers && (!mag->num_trackers || so.no_trackers))
            fprintf(stderr, "btt %s: warning: the magnet link names no peers (x.pe=) and no trackers (tr=), and no "
                            "--peer was given: waiting for peers to connect\n", cmd);
    } else if (!start_torrent(&a, mi, NULL, 0)) {
        btt_session_close(a.s, NULL, NULL);
        uv_run(&a.loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_signal_init(&a.loop, &a.sigint);
    uv_signal_init(&a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_timer_init(&a.loop, &a.status);
    a.status.data = &a;
    uv_timer_start(&a.status, on_status, a.tty ? 1000 : 2000, a.tty ? 1000 : 2000);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    rc = a.rc;
    if (a.speed) {
        char spent[BTT_AMOUNT_STRLEN], earned[BTT_AMOUNT_STRLEN];
        printf("speed: spent %s BTT, earned %s BTT\n", btt_amount_format(a.last.spent, spent),
               btt_amount_format(a.last.earned, earned));
    }
out:
    uv_loop_close(&a.loop);
    btt_magnet_free(mag);
    free(files);
    cli_speed_free(&sp);
    return rc;
}

int cmd_get(int argc, char **argv) { return run("get", argc, argv, false); }
int cmd_seed(int argc, char **argv) { return run("seed", argc, argv, true); }
