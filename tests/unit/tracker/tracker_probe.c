/* tracker_probe - drives btt's tracker client from the shell, for the interop tests.
 *
 *   tracker_probe announce URL HEXHASH PORT [started|completed|stopped|none]
 *   tracker_probe scrape URL HEXHASH
 *   tracker_probe announcer HEXHASH PORT TIER [TIER...]     (a TIER is URL[,URL...])
 *
 * Output (stdout), one fact per line: "interval N", "min_interval N", "complete N",
 * "incomplete N", "downloaded N", "peer ADDR", "warning TEXT", and for failures
 * "error BTT_EXXX: message" (exit 1). "elapsed_ms N" is always printed last.
 * The announcer mode prints "status URL BTT_EXXX message" for each tracker problem, "peers N"
 * per peer list, sends `completed` after the first list and `stopped` after the second, then
 * prints "done".
 *
 * Environment: BTT_PROBE_UDP_TIMEOUT_MS, BTT_PROBE_UDP_RETRIES, BTT_PROBE_HTTP_TIMEOUT_MS,
 * BTT_PROBE_LEFT (bytes left, default 1000; the announcer reports 0 after `completed`),
 * BTT_PROBE_DEADLINE_MS (whole run, default 30000; exit 3 when reached). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/buf.h"
#include "btt/log.h"
#include "btt/tracker.h"

static uv_loop_t loop;
static btt_tracker_client *client;
static uv_timer_t deadline;
static uint64_t t0;
static int exit_code = 0;

static uint32_t env_u32(const char *name, uint32_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? (uint32_t)strtoul(s, NULL, 10) : dflt;
}

static btt_announcer *announcer;
static bool announcer_stopping;

static void finish(int code)
{
    static bool finished;
    if (finished) return;
    finished = true;
    exit_code = code;
    printf("elapsed_ms %llu\n", (unsigned long long)(uv_now(&loop) - t0));
    fflush(stdout);
    uv_timer_stop(&deadline);
    uv_close((uv_handle_t *)&deadline, NULL);
    btt_tracker_client_close(client);
}

static void on_deadline(uv_timer_t *t)
{
    printf("error deadline reached\n");
    if (announcer && !announcer_stopping) {
        announcer_stopping = true;
        btt_announcer_stop(announcer, 0, NULL, NULL);
    }
    finish(3);
}

static void print_resp(const btt_announce_resp *r)
{
    printf("interval %d\nmin_interval %d\ncomplete %lld\nincomplete %lld\n", r->interval, r->min_interval,
           (long long)r->complete, (long long)r->incomplete);
    if (r->warning) printf("warning %s\n", r->warning);
    if (r->tracker_id) printf("tracker_id %s\n", r->tracker_id);
    for (size_t i = 0; i < r->num_peers; i++) {
        char a[BTT_ADDR_STRLEN];
        printf("peer %s\n", btt_addr_format(&r->peers[i], a));
    }
}

static void on_announce(void *ud, btt_err result, const btt_announce_resp *r, const char *msg)
{
    if (result) {
        printf("error %s: %s\n", btt_err_name(result), msg ? msg : "");
        return finish(1);
    }
    print_resp(r);
    finish(0);
}

static void on_scrape(void *ud, btt_err result, const btt_scrape_resp *r, const char *msg)
{
    if (result) {
        printf("error %s: %s\n", btt_err_name(result), msg ? msg : "");
        return finish(1);
    }
    printf("complete %lld\nincomplete %lld\ndownloaded %lld\n", (long long)r->complete, (long long)r->incomplete,
           (long long)r->downloaded);
    finish(0);
}

/* ---- announcer mode ---- */
static int lists_seen;
static uint64_t left;

static void an_stats(void *ud, btt_announcer_stats *out)
{
    out->uploaded = 0;
    out->downloaded = 0;
    out->left = left;
}

static void an_done(void *ud)
{
    printf("done\n");
    finish(0);
}

static void an_peers(void *ud, const btt_addr *peers, size_t n)
{
    printf("peers %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        char a[BTT_ADDR_STRLEN];
        printf("peer %s\n", btt_addr_format(&peers[i], a));
    }
    fflush(stdout);
    if (++lists_seen == 1) {
        left = 0;
        printf("sending completed\n");
        btt_announcer_completed(announcer);
        btt_announcer_completed(announcer); /* only once */
    } else if (lists_seen == 2) {
        printf("sending stopped\n");
        announcer_stopping = true;
        btt_announcer_stop(announcer, 3000, an_done, NULL);
    }
}

static void an_status(void *ud, const char *url, btt_err result, const char *msg)
{
    printf("status %s %s %s\n", url, btt_err_name(result), msg ? msg : "");
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "usage: tracker_probe announce URL HEXHASH PORT [event]\n"
                    "       tracker_probe scrape URL HEXHASH\n"
                    "       tracker_probe announcer HEXHASH PORT TIER [TIER...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    if (getenv("BTT_PROBE_DEBUG")) btt_log_set_level(BTT_LOG_DEBUG);
    const char *mode = argv[1];
    uint8_t hash[20];
    const char *hex = strcmp(mode, "announcer") == 0 ? argv[2] : (argc > 3 ? argv[3] : "");
    if (strlen(hex) != 40 || btt_unhex(hex, 40, hash, 20) != 0) {
        fprintf(stderr, "tracker_probe: bad info-hash '%s'\n", hex);
        return 2;
    }
    uv_loop_init(&loop);
    t0 = uv_now(&loop);
    btt_tracker_opts opts = {
        .udp_timeout_ms = env_u32("BTT_PROBE_UDP_TIMEOUT_MS", 0),
        .udp_max_retries = env_u32("BTT_PROBE_UDP_RETRIES", 0),
        .http_timeout_ms = env_u32("BTT_PROBE_HTTP_TIMEOUT_MS", 0),
        .user_agent = "btt-tracker-probe/1",
    };
    btt_error err = {0};
    if (btt_tracker_client_new(&loop, &opts, &client, &err)) {
        fprintf(stderr, "tracker_probe: %s\n", btt_error_str(&err));
        return 1;
    }
    uv_timer_init(&loop, &deadline);
    uv_timer_start(&deadline, on_deadline, env_u32("BTT_PROBE_DEADLINE_MS", 30000), 0);
    left = env_u32("BTT_PROBE_LEFT", 1000);

    btt_err e = BTT_OK;
    if (strcmp(mode, "announce") == 0 && (argc == 5 || argc == 6)) {
        btt_announce_req r;
        memset(&r, 0, sizeof r);
        memcpy(r.info_hash, hash, 20);
        unsigned port = (unsigned)strtoul(argv[4], NULL, 10);
        char pid[21];
        snprintf(pid, sizeof pid, "-BT0001-%012u", port);
        memcpy(r.peer_id, pid, 20);
        r.port = (uint16_t)port;
        r.left = left;
        r.numwant = 50;
        r.key = port;
        r.event = BTT_EVENT_STARTED;
        if (argc == 6) {
            if (!strcmp(argv[5], "completed")) r.event = BTT_EVENT_COMPLETED;
            else if (!strcmp(argv[5], "stopped")) r.event = BTT_EVENT_STOPPED;
            else if (!strcmp(argv[5], "none")) r.event = BTT_EVENT_NONE;
        }
        e = btt_tracker_announce(client, argv[2], &r, on_announce, NULL, NULL);
    } else if (strcmp(mode, "scrape") == 0 && argc == 4) {
        e = btt_tracker_scrape(client, argv[2], hash, on_scrape, NULL, NULL);
    } else if (strcmp(mode, "announcer") == 0 && argc >= 5) {
        size_t nt = (size_t)argc - 4;
        btt_tier *tiers = calloc(nt, sizeof *tiers);
        for (size_t i = 0; i < nt; i++) {
            char *spec = strdup(argv[4 + i]);
            tiers[i].urls = calloc(16, sizeof(char *));
            for (char *sv, *u = strtok_r(spec, ",", &sv); u && tiers[i].count < 16; u = strtok_r(NULL, ",", &sv))
                tiers[i].urls[tiers[i].count++] = strdup(u);
            free(spec);
        }
        unsigned port = (unsigned)strtoul(argv[3], NULL, 10);
        char pid[21];
        snprintf(pid, sizeof pid, "-BT0001-%012u", port);
        btt_announcer_cbs cbs = {.stats = an_stats, .peers = an_peers, .status = an_status};
        e = btt_announcer_new(client, tiers, nt, hash, (const uint8_t *)pid, (uint16_t)port, &cbs, &announcer, &err);
        for (size_t i = 0; i < nt; i++) {
            for (size_t j = 0; j < tiers[i].count; j++) free(tiers[i].urls[j]);
            free(tiers[i].urls);
        }
        free(tiers);
    } else {
        btt_tracker_client_close(client);
        uv_close((uv_handle_t *)&deadline, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return usage();
    }
    if (e) {
        printf("error %s: %s\n", btt_err_name(e), btt_err_message(e));
        finish(1);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "tracker_probe: handles left open at exit\n");
        return 4;
    }
    return exit_code;
}
