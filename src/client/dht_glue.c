/* dht_glue.c - the session's Mainline DHT node on the peer port's UDP socket.
 *
 * The node (src/dht, btt/dht.h) is sans-I/O; this file gives it I/O and policy:
 *   input     udp.c hands over every datagram starting with 'd' (s->dht_input)
 *   output    what btt_dht_pop_send yields goes out through udp_send_raw
 *   time      one libuv timer, re-armed for btt_dht_next_tick_ms (and at least every second
 *             for the torrent round and the periodic save)
 *   bootstrap --dht-node, else $BTT_DHT_BOOTSTRAP (comma-separated HOST:PORT, or "none"), else
 *             the built-in public routers; host names are resolved with uv_getaddrinfo
 *   torrents  every running public torrent gets a get_peers lookup with announce_peer; peers
 *             found go to btt_torrent_add_peer like a tracker's; again after 15 minutes, sooner
 *             while a download's lookups find nothing; a watched info-hash (a magnet's metadata
 *             fetch, before its torrent exists) gets the same lookups without the announce
 *   state     the routing table and our id in STATE_DIR/dht.state, loaded at start, saved
 *             every 5 minutes and at close
 *   port msg  BEP 5: sent after the handshake when both sides set the DHT bit; a peer's port
 *             message makes us ping its node */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/dht_glue.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btt/dht.h"
#include "btt/fsutil.h"
#include "btt/path.h"

#define ROUND_MS 1000                   /* torrent round and timer ceiling */
#define SAVE_EVERY_MS (5u * 60 * 1000)
#define FIRST_SAVE_MS (60u * 1000)      /* the first save, once the table has filled */
#define REANNOUNCE_MS (15u * 60 * 1000) /* BEP 5 peers expire after 30 min; libtorrent: 15 */
#define RETRY_MIN_MS 5000               /* a lookup that found no peers: again after 5 s, 10 s, ... */
#define RETRY_MAX_MS (5u * 60 * 1000)
#define MAX_BOOT 16
#define MAX_STATE_BYTES (1u << 20)

static const char *const builtin_routers[] = {
    "router.bittorrent.com:6881",
    "router.utorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
};

typedef struct dht_tor {
    uint8_t ih[20];
    uint32_t lookup;   /* running lookup's handle, 0: none */
    uint64_t next_ms;  /* next lookup */
    uint32_t empty;    /* lookups in a row that found no peer */
    uint32_t found;    /* peers the running lookup found */
    bool live;         /* seen in this round's scan */
    dht_peer_fn watch; /* a watch (dht_glue_watch): peers go here while no torrent has the hash */
    void *watch_ud;
} dht_tor;

typedef struct resolve {
    uv_getaddrinfo_t req;
    dht_glue *g;
    uint16_t port;
    char name[300];
} resolve;

struct dht_glue {
    btt_session *s;
    btt_dht *d;
    uv_timer_t timer;
    bool timer_open, closing;
    uint64_t armed_ms;
    char *state_path;      /* NULL: another process holds the state file (not loaded, not saved) */
    int lock_fd;           /* flock on STATE.lock while we own the state file */
    btt_addr boot[MAX_BOOT];
    size_t nboot;
    resolve *res[MAX_BOOT];
    size_t nres;
    dht_tor *tors;
    size_t ntors, captors;
    uint64_t next_round_ms, next_save_ms;
    uint32_t boot_lookup;
    bool booted;
    uint64_t tx_dropped;
};

static void flush(dht_glue *g);
static void arm(dht_glue *g, uint64_t now);

static uint64_t now_ms(const dht_glue *g) { return uv_now(g->s->loop); }

bool dht_glue_on(btt_session *s, const btt_torrent *t)
{
    return s->dht && !s->dht->closing && (!t || !t->mi || !t->mi->is_private);
}

/* ------------------------------------------------------------------ state file */

static void save_state(dht_glue *g)
{
    if (!g->state_path) return;
    btt_buf b;
    btt_buf_init(&b, MAX_STATE_BYTES);
    btt_error err = {0};
    char tmp[4200];
    if (btt_dht_save(g->d, now_ms(g), &b)) {
        BTT_LOGW(LOG_MOD, "dht: cannot encode the routing table");
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", g->state_path);
    if (btt_path_mkparents(g->state_path, &err)) {
        BTT_LOGW(LOG_MOD, "dht: %s", btt_error_str(&err));
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || btt_write_all(fd, b.data, b.len)) {
        BTT_LOGW(LOG_MOD, "dht: cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, g->state_path)) {
        BTT_LOGW(LOG_MOD, "dht: cannot write %s: %s", g->state_path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    BTT_LOGD(LOG_MOD, "dht: saved %zu bytes of state to %s", b.len, g->state_path);
out:
    btt_buf_free(&b);
}

/* true if a saved state was loaded */
static bool load_state(dht_glue *g)
{
    if (!g->state_path) return false;
    int fd = open(g->state_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) BTT_LOGW(LOG_MOD, "dht: cannot read %s: %s", g->state_path, strerror(errno));
        return false;
    }
    uint8_t *buf = malloc(MAX_STATE_BYTES);
    size_t len = 0;
    ssize_t n;
    while (buf && len < MAX_STATE_BYTES && (n = read(fd, buf + len, MAX_STATE_BYTES - len)) > 0) len += (size_t)n;
    close(fd);
    bool ok = false;
    btt_error err = {0};
    if (!buf) BTT_LOGW(LOG_MOD, "dht: out of memory reading %s", g->state_path);
    else if (btt_dht_load(g->d, buf, len, now_ms(g), &err))
        BTT_LOGW(LOG_MOD, "dht: %s: %s; starting with an empty routing table", g->state_path, btt_error_str(&err));
    else ok = true;
    free(buf);
    return ok;
}

/* ------------------------------------------------------------------ I/O */

static void on_input(void *ud, const btt_addr *from, const uint8_t *p, size_t len)
{
    dht_glue *g = ud;
    uint64_t now = now_ms(g);
    btt_dht_receive(g->d, p, len, from, now);
    flush(g);
    arm(g, now);
}

static dht_tor *find_tor(dht_glue *g, const uint8_t ih[20])
{
    for (size_t i = 0; i < g->ntors; i++)
        if (memcmp(g->tors[i].ih, ih, 20) == 0) return &g->tors[i];
    return NULL;
}

static size_t table_nodes(dht_glue *g)
{
    size_t n = 0;
    for (uint8_t fam = 4; fam <= 6; fam += 2) {
        btt_dht_rtable *rt = btt_dht_table(g->d, fam);
        if (!rt) continue;
        btt_dht_rtable_info info;
        btt_dht_rtable_get_info(rt, now_ms(g), &info);
        n += info.nodes;
    }
    return n;
}

static void on_event(dht_glue *g, const btt_dht_event *ev)
{
    char hex[41];
    if (ev->type == BTT_DHT_EV_PEERS) {
        btt_torrent *t = session_find_torrent(g->s, ev->target);
        dht_tor *dt = find_tor(g, ev->target);
        if (!dt || dt->lookup != ev->lookup || (t ? !dht_glue_on(g->s, t) : !dt->watch)) return;
        btt_addr me = btt_session_listen_addr(g->s);
        for (size_t i = 0; i < ev->num_peers; i++) dt->found += !btt_addr_eq(&ev->peers[i], &me); /* not our own announce */
        btt_hex(ev->target, 20, hex);
        BTT_LOGI(LOG_MOD, "dht: %zu peers for %s%s", ev->num_peers, hex, t ? "" : " (metadata fetch)");
        for (size_t i = 0; i < ev->num_peers; i++) {
            if (t) btt_torrent_add_peer(t, &ev->peers[i]);
            else dt->watch(dt->watch_ud, &ev->peers[i]);
        }
        return;
    }
    if (ev->type != BTT_DHT_EV_DONE) return;
    const btt_dht_lookup_stats *st = &ev->stats;
    if (ev->lookup == g->boot_lookup) {
        g->boot_lookup = 0;
        g->booted = true;
        BTT_LOGI(LOG_MOD, "dht: bootstrap done: %zu nodes in the routing table (%" PRIu32 " queries, %" PRIu32 " replies)",
                 table_nodes(g), st->queries, st->replies);
        g->next_round_ms = 0; /* start the torrents' lookups now */
        return;
    }
    dht_tor *dt = find_tor(g, ev->target);
    if (!dt || dt->lookup != ev->lookup) return;
    dt->lookup = 0;
    uint64_t now = now_ms(g);
    btt_torrent *t = session_find_torrent(g->s, ev->target);
    if (dt->found || (t && t->complete)) { /* a seed only needs to stay announced */
        dt->empty = 0;
        dt->next_ms = now + REANNOUNCE_MS;
    } else {
        uint64_t delay = RETRY_MIN_MS << (dt->empty < 6 ? dt->empty : 6);
        dt->next_ms = now + (delay < RETRY_MAX_MS ? delay : RETRY_MAX_MS);
        if (dt->empty < 250) dt->empty++;
    }
    btt_hex(ev->target, 20, hex);
    BTT_LOGI(LOG_MOD,
             "dht: lookup for %s done: %" PRIu32 " peers, %" PRIu32 " queries, %" PRIu32 " replies, %" PRIu32
             " timeouts, %" PRIu32 " announces, first peer after %" PRIu64 " ms, %" PRIu64 " ms in all",
             hex, st->peers, st->queries, st->replies, st->timeouts, st->announced, st->first_peer_ms,
             st->duration_ms);
}

static void flush(dht_glue *g)
{
    btt_dht_packet pkt;
    while (btt_dht_pop_send(g->d, &pkt))
        if (!udp_send_raw(g->s, &pkt.to, pkt.data, pkt.len)) g->tx_dropped++;
    btt_dht_event ev;
    while (btt_dht_pop_event(g->d, &ev)) on_event(g, &ev);
    /* events may start nothing that sends, but be safe: drain what they queued */
    while (btt_dht_pop_send(g->d, &pkt))
        if (!udp_send_raw(g->s, &pkt.to, pkt.data, pkt.len)) g->tx_dropped++;
}

/* ------------------------------------------------------------------ torrents */

/* The entry for ih, added if absent; NULL if out of memory. */
static dht_tor *tor_get(dht_glue *g, const uint8_t ih[20])
{
    dht_tor *dt = find_tor(g, ih);
    if (dt) return dt;
    if (g->ntors == g->captors) {
        size_t cap = g->captors ? g->captors * 2 : 8;
        dht_tor *v = realloc(g->tors, cap * sizeof *v);
        if (!v) return NULL;
        g->tors = v;
        g->captors = cap;
    }
    dt = &g->tors[g->ntors++];
    memset(dt, 0, sizeof *dt);
    memcpy(dt->ih, ih, 20);
    return dt;
}

static void maybe_lookup(dht_glue *g, dht_tor *dt, bool announce, bool have_nodes, uint64_t now)
{
    dt->live = true;
    if (dt->lookup || now < dt->next_ms || !have_nodes) return;
    uint32_t h = 0;
    btt_err e = btt_dht_get_peers(g->d, dt->ih, announce, g->s->bind.port, false, now, &h);
    if (e) return; /* too many lookups at once: next round */
    dt->lookup = h;
    dt->found = 0;
}

static void torrent_round(dht_glue *g, uint64_t now)
{
    btt_session *s = g->s;
    for (size_t i = 0; i < g->ntors; i++) g->tors[i].live = false;
    /* after the join lookup (announces then reach the nodes closest to the info-hash) */
    bool have_nodes = !g->boot_lookup && table_nodes(g) > 0;
    for (btt_torrent *t = s->torrents; t; t = t->next) {
        if (!t->mi || t->state != T_RUNNING || !dht_glue_on(s, t)) continue;
        dht_tor *dt = tor_get(g, t->mi->info_hash);
        if (dt) maybe_lookup(g, dt, true, have_nodes, now);
    }
    for (size_t i = 0; i < g->ntors; i++) /* watches whose torrent does not exist (yet) */
        if (g->tors[i].watch && !g->tors[i].live) maybe_lookup(g, &g->tors[i], false, have_nodes, now);
    for (size_t i = 0; i < g->ntors;) {
        if (g->tors[i].live) i++;
        else g->tors[i] = g->tors[--g->ntors];
    }
}

bool dht_glue_watch(btt_session *s, const uint8_t ih[20], dht_peer_fn on_peer, void *ud)
{
    if (!dht_glue_on(s, NULL)) return false;
    dht_tor *dt = tor_get(s->dht, ih);
    if (!dt) return false;
    dt->watch = on_peer;
    dt->watch_ud = ud;
    dt->live = true;
    s->dht->next_round_ms = 0; /* look it up at the next tick */
    arm(s->dht, now_ms(s->dht));
    return true;
}

void dht_glue_unwatch(btt_session *s, const uint8_t ih[20])
{
    dht_tor *dt = s->dht ? find_tor(s->dht, ih) : NULL;
    if (dt) dt->watch = NULL; /* a running lookup's peers are dropped; the entry goes next round */
}

static void on_timer(uv_timer_t *h)
{
    dht_glue *g = h->data;
    uint64_t now = now_ms(g);
    g->armed_ms = UINT64_MAX;
    btt_dht_tick(g->d, now);
    if (now >= g->next_round_ms) {
        g->next_round_ms = now + ROUND_MS;
        torrent_round(g, now);
    }
    if (now >= g->next_save_ms) {
        g->next_save_ms = now + SAVE_EVERY_MS;
        save_state(g);
    }
    flush(g);
    arm(g, now);
}

static void arm(dht_glue *g, uint64_t now)
{
    if (g->closing) return;
    uint64_t next = btt_dht_next_tick_ms(g->d);
    if (g->next_round_ms < next) next = g->next_round_ms;
    if (next > now + ROUND_MS) next = now + ROUND_MS;
    if (next >= g->armed_ms && g->armed_ms > now) return; /* already due as soon */
    g->armed_ms = next;
    uv_timer_start(&g->timer, on_timer, next > now ? next - now : 0, 0);
}

/* ------------------------------------------------------------------ bootstrap */

static void bootstrap(dht_glue *g)
{
    uint64_t now = now_ms(g);
    uint32_t h = 0;
    btt_err e = btt_dht_bootstrap(g->d, g->boot, g->nboot, now, &h);
    if (e == BTT_EINVAL) {
        if (!g->nres)
            BTT_LOGI(LOG_MOD, "dht: no bootstrap nodes and no saved routing table; nodes come from peers' port messages");
        return;
    }
    if (e) {
        BTT_LOGW(LOG_MOD, "dht: bootstrap: %s", btt_err_message(e));
        return;
    }
    g->boot_lookup = h;
    flush(g);
    arm(g, now);
}

static bool family_served(dht_glue *g, uint8_t fam) { return btt_dht_table(g->d, fam) != NULL; }

static void add_boot(dht_glue *g, const btt_addr *a)
{
    if (!family_served(g, a->family) || !a->port || g->nboot == MAX_BOOT) return;
    for (size_t i = 0; i < g->nboot; i++)
        if (btt_addr_eq(&g->boot[i], a)) return;
    g->boot[g->nboot++] = *a;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve *r = (resolve *)req;
    dht_glue *g = r->g;
    btt_session *s = g->s;
    for (size_t i = 0; i < g->nres; i++)
        if (g->res[i] == r) {
            g->res[i] = g->res[--g->nres];
            break;
        }
    size_t before = g->nboot;
    if (status == 0 && !g->closing) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            btt_addr a;
            if (btt_addr_from_sockaddr(ai->ai_addr, &a)) continue;
            a.port = r->port;
            add_boot(g, &a);
        }
    } else if (status && status != UV_ECANCELED) {
        BTT_LOGW(LOG_MOD, "dht: bootstrap node %s: %s", r->name, uv_strerror(status));
    }
    if (res) uv_freeaddrinfo(res);
    free(r);
    if (!g->closing && g->nboot > before) bootstrap(g);
    session_handle_closed(s); /* the request was counted as an open handle */
}

/* "HOST:PORT", "[V6]:PORT" or a numeric address; host names are resolved in the background. */
static void add_boot_spec(dht_glue *g, const char *spec, size_t len)
{
    while (len && (*spec == ' ' || *spec == '\t')) spec++, len--;
    while (len && (spec[len - 1] == ' ' || spec[len - 1] == '\t')) len--;
    if (!len) return;
    char buf[300];
    if (len >= sizeof buf) {
        BTT_LOGW(LOG_MOD, "dht: bootstrap node name too long");
        return;
    }
    memcpy(buf, spec, len);
    buf[len] = '\0';
    btt_addr a;
    btt_error err = {0};
    if (btt_addr_parse(buf, &a, &err) == BTT_OK) {
        add_boot(g, &a);
        return;
    }
    char *colon = strrchr(buf, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == buf || *end || port < 1 || port > 65535 || buf[0] == '[') {
        BTT_LOGW(LOG_MOD, "dht: bootstrap node '%s': expected HOST:PORT", buf);
        return;
    }
    *colon = '\0';
    if (g->nres == MAX_BOOT) return;
    resolve *r = calloc(1, sizeof *r);
    if (!r) return;
    r->g = g;
    r->port = (uint16_t)port;
    snprintf(r->name, sizeof r->name, "%s", buf);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    if (!family_served(g, 6)) hints.ai_family = AF_INET;
    else if (!family_served(g, 4)) hints.ai_family = AF_INET6;
    if (uv_getaddrinfo(g->s->loop, &r->req, on_resolved, r->name, NULL, &hints)) {
        BTT_LOGW(LOG_MOD, "dht: cannot resolve %s", r->name);
        free(r);
        return;
    }
    g->res[g->nres++] = r;
    g->s->open_handles++;
}

static void add_boot_list(dht_glue *g, const char *list)
{
    if (strcmp(list, "none") == 0) return;
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        add_boot_spec(g, p, n);
        p += n + (c != NULL);
    }
}

/* ------------------------------------------------------------------ life cycle */

static void on_timer_closed(uv_handle_t *h)
{
    dht_glue *g = h->data;
    session_handle_closed(g->s);
}

void dht_glue_open(btt_session *s)
{
    if (!s->udp_open || s->o.no_dht) return;
    static const uint8_t any6[16];
    dht_glue *g = calloc(1, sizeof *g);
    if (!g) {
        BTT_LOGW(LOG_MOD, "dht: out of memory; DHT off");
        return;
    }
    g->s = s;
    g->armed_ms = UINT64_MAX;
    btt_dht_config cfg;
    btt_dht_config_default(&cfg);
    if (getrandom(cfg.id, sizeof cfg.id, 0) != sizeof cfg.id)
        for (size_t i = 0; i < sizeof cfg.id; i++) cfg.id[i] = (uint8_t)session_rand(s);
    cfg.seed = session_rand(s);
    /* an IPv6 socket on the any address is dual-stack (session.c): both families */
    cfg.ipv4 = s->bind.family == 4 || memcmp(s->bind.ip, any6, 16) == 0;
    cfg.ipv6 = s->bind.family == 6;
    cfg.read_only = s->o.dht_read_only;
    btt_error err = {0};
    char path[4200];
    if (s->o.dht_state) snprintf(path, sizeof path, "%s", s->o.dht_state);
    else snprintf(path, sizeof path, "%s/dht.state", s->state_dir);
    if (btt_dht_new(&cfg, uv_now(s->loop), &g->d, &err)) {
        BTT_LOGW(LOG_MOD, "dht: %s; DHT off", btt_error_str(&err));
        free(g);
        return;
    }
    /* one process per state file: a second one (same state directory) runs with a fresh id
     * and saves nothing, rather than a copy of the first one's id */
    g->lock_fd = -1;
    char lock[4300];
    snprintf(lock, sizeof lock, "%s.lock", path);
    if (btt_path_mkparents(lock, &err) == BTT_OK &&
        (g->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) >= 0 && flock(g->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        g->state_path = strdup(path);
    } else {
        BTT_LOGI(LOG_MOD, "dht: %s is in use by another process: this node's routing table is not kept", path);
        if (g->lock_fd >= 0) close(g->lock_fd);
        g->lock_fd = -1;
    }
    uv_timer_init(s->loop, &g->timer);
    g->timer.data = g;
    g->timer_open = true;
    s->open_handles++;
    s->dht = g;
    s->dht_input = on_input;
    s->dht_ud = g;
    bool loaded = load_state(g);
    if (s->o.num_dht_nodes) {
        for (size_t i = 0; i < s->o.num_dht_nodes; i++)
            add_boot_spec(g, s->o.dht_nodes[i], strlen(s->o.dht_nodes[i]));
    } else if (getenv("BTT_DHT_BOOTSTRAP")) {
        add_boot_list(g, getenv("BTT_DHT_BOOTSTRAP"));
    } else {
        for (size_t i = 0; i < sizeof builtin_routers / sizeof *builtin_routers; i++)
            add_boot_spec(g, builtin_routers[i], strlen(builtin_routers[i]));
    }
    uint64_t now = uv_now(s->loop);
    g->next_save_ms = now + FIRST_SAVE_MS;
    char hex[41];
    btt_hex(btt_dht_id(g->d), 20, hex);
    BTT_LOGI(LOG_MOD, "dht: node %s on port %u (%s%s%s%s), %s routing table, %zu bootstrap nodes%s", hex, s->bind.port,
             cfg.ipv4 ? "IPv4" : "", cfg.ipv4 && cfg.ipv6 ? "+" : "", cfg.ipv6 ? "IPv6" : "",
             cfg.read_only ? ", read-only" : "",
             loaded ? "saved" : "empty", g->nboot, g->nres ? " (more being resolved)" : "");
    bootstrap(g);
    arm(g, now);
}

static void log_stats(dht_glue *g)
{
    btt_dht_stats st;
    btt_dht_get_stats(g->d, &st);
    BTT_LOGI(LOG_MOD,
             "dht: %zu nodes; in %" PRIu64 " packets (%" PRIu64 " queries, %" PRIu64 " responses, %" PRIu64
             " errors); dropped %" PRIu64 " malformed, %" PRIu64 " oversized, %" PRIu64 " unexpected, %" PRIu64
             " id mismatch, %" PRIu64 " rate limited, %" PRIu64 " wrong family; out %" PRIu64 " packets (%" PRIu64
             " not sent); %" PRIu64 " timeouts; %" PRIu64 " announces stored, %" PRIu64 " bad tokens; %" PRIu64
             " lookups",
             table_nodes(g), st.rx_packets, st.rx_queries, st.rx_responses, st.rx_errors, st.rx_malformed,
             st.rx_oversized, st.rx_unexpected, st.rx_id_mismatch, st.rx_rate_limited, st.rx_wrong_family,
             st.tx_packets, st.tx_dropped + g->tx_dropped, st.timeouts, st.announces_stored, st.announces_bad_token,
             st.lookups_started);
}

void dht_glue_close(btt_session *s)
{
    dht_glue *g = s->dht;
    if (!g || g->closing) return;
    g->closing = true;
    log_stats(g);
    save_state(g);
    s->dht_input = NULL;
    s->dht_ud = NULL;
    for (size_t i = 0; i < g->nres; i++) uv_cancel((uv_req_t *)&g->res[i]->req);
    if (g->timer_open) {
        g->timer_open = false;
        uv_close((uv_handle_t *)&g->timer, on_timer_closed);
    }
}

void dht_glue_free(btt_session *s)
{
    dht_glue *g = s->dht;
    if (!g) return;
    s->dht = NULL;
    btt_dht_free(g->d);
    if (g->lock_fd >= 0) close(g->lock_fd);
    free(g->tors);
    free(g->state_path);
    free(g);
}

/* ------------------------------------------------------------------ port message */

void dht_glue_peer_attached(peer *p)
{
    btt_session *s = p->s;
    if (!p->dht || !p->t || !dht_glue_on(s, p->t)) return;
    if (btt_wire_port(&p->wbuf, s->bind.port)) {
        peer_close(p, "out of memory");
        return;
    }
    peer_flush(p);
}

void dht_glue_port_msg(peer *p, uint16_t port)
{
    btt_session *s = p->s;
    if (!port || !p->t || !dht_glue_on(s, p->t)) return;
    dht_glue *g = s->dht;
    btt_addr a = p->addr;
    a.port = port;
    if (!family_served(g, a.family)) return;
    uint64_t now = now_ms(g);
    if (btt_dht_add_node(g->d, &a, now)) return;
    char buf[BTT_ADDR_STRLEN];
    BTT_LOGI(LOG_MOD, "dht: port message: pinging the node at %s", btt_addr_format(&a, buf));
    flush(g);
    arm(g, now);
}
