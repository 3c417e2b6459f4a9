/* cmd_tracker.c - btt tracker: a BitTorrent tracker (HTTP and UDP, with the Speed extensions
 * bidannounce and bidscrape). Parses flags, reads the whitelist, starts the server
 * (src/tracker/server.c) and waits for SIGINT/SIGTERM (stop) and SIGHUP (read the whitelist
 * again). docs/tracker.md is the operator's guide. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/tracker_server.h"
#include "cli/cli.h"

#define WHITELIST_MAX (64u << 20)
#define DEFAULT_ADDR "0.0.0.0:6969"

static const char help[] =
    "usage: btt tracker [--http ADDR:PORT] [--udp ADDR:PORT] [--whitelist FILE] [--interval S]\n"
    "                   [--max-torrents N] [--max-peers N] [--max-peers-per-torrent N]\n"
    "                   [--rate-limit N] [--max-connections N] [--ip-params]\n"
    "\n"
    "Runs a BitTorrent tracker: HTTP announce and scrape (BEP 3, 23, 7, 48), UDP (BEP 15),\n"
    "and the Speed extensions bidannounce and bidscrape (docs/speed-protocol.md section 5).\n"
    "With neither --http nor --udp it serves both on " DEFAULT_ADDR ".\n"
    "\n"
    "  --http ADDR:PORT       serve HTTP here ([::]:PORT for IPv6 and IPv4; port 0: any free one)\n"
    "  --udp ADDR:PORT        serve UDP here\n"
    "  --whitelist FILE       serve only these torrents: one hex info-hash per line; SIGHUP reads\n"
    "                         it again (torrents no longer listed are dropped and refused)\n"
    "  --interval S           announce interval told to clients (default 1800, 5..7200); peers\n"
    "                         not heard from for 1.5 intervals + 60 s are dropped\n"
    "  --max-torrents N       at most N torrents (default 1000000); the stalest goes first\n"
    "  --max-peers N          at most N peers in all (default 10000000); the stalest goes first\n"
    "  --max-peers-per-torrent N   (default 1000000)\n"
    "  --rate-limit N         requests per second per client address, burst 2N (default 1000;\n"
    "                         0: no limit)\n"
    "  --max-connections N    HTTP connections at once (default 4096)\n"
    "  --ip-params            honour BEP 7 ipv4= / ipv6= (a peer's address of the other family);\n"
    "                         off by default: they let anyone announce another host's address\n"
    "\n"
    "Paths: /announce, /scrape (without info_hash: a full scrape, 256 torrents a page, 'next' gives\n"
    "the next page's cursor=), /bidscrape, /stats (JSON). Prints 'listening on http ADDR:PORT'\n"
    "and 'listening on udp ADDR:PORT' once ready. SIGINT or SIGTERM stops it, exit 0.\n";

static bool parse_count(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return false;
    *out = v;
    return true;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(WHITELIST_MAX + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, WHITELIST_MAX + 1, f);
    bool bad = ferror(f) || n > WHITELIST_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    *len = n;
    return buf;
}

int cmd_tracker(int argc, char **argv)
{
    static const struct option opts[] = {{"http", required_argument, NULL, 'H'},
                                         {"udp", required_argument, NULL, 'U'},
                                         {"whitelist", required_argument, NULL, 'w'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"max-torrents", required_argument, NULL, 'T'},
                                         {"max-peers", required_argument, NULL, 'P'},
                                         {"max-peers-per-torrent", required_argument, NULL, 'Q'},
                                         {"rate-limit", required_argument, NULL, 'r'},
                                         {"max-connections", required_argument, NULL, 'c'},
                                         {"ip-params", no_argument, NULL, 'I'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    btt_tracker_server_config cfg = {.rate_limit = 1000};
    const char *whitelist = NULL;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H': cfg.http = optarg; break;
        case 'U': cfg.udp = optarg; break;
        case 'w': whitelist = optarg; break;
        case 'i':
            if (!parse_count(optarg, BTT_TRK_INTERVAL_MAX, &v) || v < BTT_TRK_INTERVAL_MIN)
                return cli_error("tracker", "--interval: '%s' is not a number of seconds in %u..%u", optarg,
                                 BTT_TRK_INTERVAL_MIN, BTT_TRK_INTERVAL_MAX);
            cfg.core.interval = (uint32_t)v;
            break;
        case 'T':
        case 'P':
        case 'Q':
            if (!parse_count(optarg, 1000000000000ULL, &v) || v == 0)
                return cli_error("tracker", "--%s: '%s' is not a positive count",
                                 c == 'T' ? "max-torrents" : c == 'P' ? "max-peers" : "max-peers-per-torrent", optarg);
            if (c == 'T') cfg.core.max_torrents = (size_t)v;
            else if (c == 'P') cfg.core.max_peers = (size_t)v;
            else cfg.core.max_peers_per_torrent = (size_t)v;
            break;
        case 'r':
            if (!parse_count(optarg, 100000000, &v))
                return cli_error("tracker", "--rate-limit: '%s' is not a number of requests per second", optarg);
            cfg.rate_limit = (uint32_t)v;
            break;
        case 'c':
            if (!parse_count(optarg, 1000000, &v) || v == 0)
                return cli_error("tracker", "--max-connections: '%s' is not a positive count", optarg);
            cfg.max_connections = (unsigned)v;
            break;
        case 'I': cfg.core.ip_params = true; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage_error("tracker");
        }
    }
    if (optind != argc) return cli_error("tracker", "unexpected argument '%s'", argv[optind]);
    if (!cfg.http && !cfg.udp) cfg.http = cfg.udp = DEFAULT_ADDR;

    char *wl = NULL;
    if (whitelist) {
        wl = read_file(whitelist, &cfg.whitelist_len);
        if (!wl) return cli_error("tracker", "--whitelist %s: %s", whitelist, strerror(errno));
        cfg.whitelist = wl;
        cfg.core.whitelist = true;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    btt_error err = {0};
    btt_tracker_server *srv = NULL;
    btt_err e = btt_tracker_server_start(&cfg, &srv, &err);
    free(wl);
    if (e != BTT_OK) return cli_btt_error("tracker", &err);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (cfg.http) printf("listening on http %s\n", btt_tracker_server_http_address(srv));
    if (cfg.udp) printf("listening on udp %s\n", btt_tracker_server_udp_address(srv));
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        if (sig != SIGHUP) break;
        if (!whitelist) {
            fprintf(stderr, "btt tracker: SIGHUP: no --whitelist to read again\n");
            continue;
        }
        /* the old list stays on any error */
        size_t len = 0, dropped = 0;
        char *text = read_file(whitelist, &len);
        if (!text) {
            fprintf(stderr, "btt tracker: SIGHUP: --whitelist %s: %s (the old list stays)\n", whitelist, strerror(errno));
            continue;
        }
        btt_error rerr = {0};
        if (btt_tracker_server_reload_whitelist(srv, text, len, &dropped, &rerr) != BTT_OK)
            fprintf(stderr, "btt tracker: SIGHUP: whitelist %s: %s (the old list stays)\n", whitelist, btt_error_str(&rerr));
        else
            printf("whitelist reloaded: %zu torrent(s) no longer listed dropped\n", dropped);
        free(text);
    }
    btt_tracker_server_stop(srv);
    return CLI_OK;
}
