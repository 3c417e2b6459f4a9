/* dht_net - many btt DHT nodes (src/dht) in one process, each on its own UDP socket on
 * 127.0.0.1, for bench/dht.sh: a loopback DHT that libtorrent nodes can join.
 *
 * usage: dht_net [-n NODES] [-p BASE_PORT] [-j JOIN_MS] [-s SETTLE_S] [-t TORRENTS]
 *                [-a ANNOUNCERS] [-d DELAY_MS] [-o DIR]
 *
 * Latency: every datagram a btt node sends is held DELAY_MS (default 10) before it goes out,
 * and every datagram from a port outside the btt range (a libtorrent node) DELAY_MS before
 * it is read, so each datagram between two nodes is late by DELAY_MS once, whoever sent it
 * (only libtorrent-to-libtorrent datagrams are not delayed: they never pass through here).
 *   1. NODES nodes bind BASE_PORT, BASE_PORT+1, ... and join one every JOIN_MS ms, each
 *      bootstrapping from node 0 and a random earlier node (stdout: "joined N");
 *   2. after SETTLE_S seconds (libtorrent nodes may join meanwhile, through any of the
 *      ports) TORRENTS random info-hashes are announced, each by ANNOUNCERS random nodes
 *      (get_peers + announce_peer; stdout: "announced"); the hashes are written to DIR/hashes;
 *   3. one get_peers lookup per hash from a random node that did not announce it, one at a
 *      time: "lookup HASH queries Q first_peer_ms F duration_ms D peers P hops H";
 *   4. memory: "memory: rss KIB for N nodes, heap B bytes in all, B per node" and
 *      "table: median M nodes per routing table"; then DIR/btt.done is written and the nodes
 *      keep serving (for the libtorrent lookups) until SIGTERM/SIGINT.
 * Sends only to 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "btt/dht.h"

typedef struct node {
    btt_dht *d;
    int fd;
    uint16_t port;
    uint64_t next_tick;
    bool joined;
} node;

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static btt_addr loop_addr(uint16_t port)
{
    btt_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.ip[0] = 127;
    a.ip[3] = 1;
    a.port = port;
    return a;
}

static node *nodes;
static size_t nnodes;
static unsigned base_port;

/* the delay line: datagrams in time order (the delay is constant) */
typedef struct held {
    struct held *next;
    uint64_t due;
    size_t node;
    bool in;     /* to be received by node (else sent by it) */
    btt_addr peer;
    size_t len;
    uint8_t data[];
} held;
static held *hq_head, *hq_tail;
static uint64_t delay_ms = 10;
static size_t held_bytes; /* malloc'd by the delay line (not the nodes' memory) */

static void hold(size_t ni, bool in, const btt_addr *peer, const uint8_t *p, size_t len, uint64_t now)
{
    held *h = malloc(sizeof *h + len);
    if (!h) return;
    h->next = NULL;
    h->due = now + delay_ms;
    h->node = ni;
    h->in = in;
    h->peer = *peer;
    h->len = len;
    memcpy(h->data, p, len);
    held_bytes += sizeof *h + len;
    if (hq_tail) hq_tail->next = h;
    else hq_head = h;
    hq_tail = h;
}

static void send_now(size_t i, const btt_addr *to, const uint8_t *p, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(to->port)};
    memcpy(&sa.sin_addr, to->ip, 4);
    (void)sendto(nodes[i].fd, p, len, 0, (struct sockaddr *)&sa, sizeof sa);
}

/* events of node i: lookups the main program waits for */
typedef struct waiting {
    size_t node;
    uint32_t handle;
    bool done;
    btt_dht_lookup_stats st;
} waiting;
static waiting want;

static void flush(size_t i)
{
    node *n = &nodes[i];
    btt_dht_packet pkt;
    while (btt_dht_pop_send(n->d, &pkt)) {
        if (pkt.to.family != 4 || pkt.to.ip[0] != 127) continue; /* loopback only */
        if (delay_ms) hold(i, false, &pkt.to, pkt.data, pkt.len, now_ms());
        else send_now(i, &pkt.to, pkt.data, pkt.len);
    }
    btt_dht_event ev;
    while (btt_dht_pop_event(n->d, &ev))
        if (ev.type == BTT_DHT_EV_DONE && i == want.node && ev.lookup == want.handle) {
            want.done = true;
            want.st = ev.stats;
        }
    n->next_tick = btt_dht_next_tick_ms(n->d);
}

static struct pollfd *pfds;

/* Runs the network for ms milliseconds (or until want.done when until_done). */
static void run(uint64_t ms, bool until_done)
{
    uint64_t end = now_ms() + ms;
    uint8_t buf[4096];
    while (!stop_flag) {
        uint64_t now = now_ms();
        if (now >= end || (until_done && want.done)) return;
        while (hq_head && hq_head->due <= now) {
            held *h = hq_head;
            hq_head = h->next;
            if (!hq_head) hq_tail = NULL;
            if (h->in) {
                btt_dht_receive(nodes[h->node].d, h->data, h->len, &h->peer, now);
                flush(h->node);
            } else {
                send_now(h->node, &h->peer, h->data, h->len);
            }
            held_bytes -= sizeof *h + h->len;
            free(h);
        }
        uint64_t next = end;
        if (hq_head && hq_head->due < next) next = hq_head->due;
        for (size_t i = 0; i < nnodes; i++) {
            if (!nodes[i].joined) continue;
            if (nodes[i].next_tick <= now) {
                btt_dht_tick(nodes[i].d, now);
                flush(i);
            }
            if (nodes[i].next_tick < next) next = nodes[i].next_tick;
        }
        int timeout = next > now ? (int)(next - now) : 0;
        if (timeout > 50) timeout = 50;
        int r = poll(pfds, nnodes, timeout);
        if (r <= 0) continue;
        now = now_ms();
        for (size_t i = 0; i < nnodes; i++) {
            if (!(pfds[i].revents & POLLIN)) continue;
            for (int k = 0; k < 64; k++) {
                struct sockaddr_in sa;
                socklen_t sl = sizeof sa;
                ssize_t n = recvfrom(nodes[i].fd, buf, sizeof buf, 0, (struct sockaddr *)&sa, &sl);
                if (n <= 0) break;
                if (!nodes[i].joined || sa.sin_family != AF_INET) continue;
                btt_addr from = loop_addr(ntohs(sa.sin_port));
                memcpy(from.ip, &sa.sin_addr, 4);
                unsigned fp = from.port;
                if (delay_ms && (fp < base_port || fp >= base_port + nnodes)) hold(i, true, &from, buf, (size_t)n, now);
                else btt_dht_receive(nodes[i].d, buf, (size_t)n, &from, now);
            }
            flush(i);
        }
    }
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1) break;
    fclose(f);
    return v;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t n = 500, ntor = 20, nann = 3;
    unsigned base = 30000, join_ms = 10, settle_s = 30;
    const char *dir = ".";
    int c;
    while ((c = getopt(argc, argv, "n:p:j:s:t:a:d:o:")) != -1) {
        switch (c) {
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'p': base = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'j': join_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 's': settle_s = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't': ntor = strtoul(optarg, NULL, 10); break;
        case 'a': nann = strtoul(optarg, NULL, 10); break;
        case 'o': dir = optarg; break;
        case 'd': delay_ms = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: dht_net [-n NODES] [-p BASE_PORT] [-j JOIN_MS] [-s SETTLE_S] [-t TORRENTS] [-a ANNOUNCERS] [-d DELAY_MS] [-o DIR]\n");
            return 2;
        }
    }
    if (n < 2 || n > 5000 || base + n > 65535 || ntor < 1 || ntor > 1000 || nann < 1 || nann >= n) {
        fprintf(stderr, "dht_net: bad arguments\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    rng ^= (uint64_t)getpid() << 20 ^ now_ms();

    struct mallinfo2 m0 = mallinfo2();
    nodes = calloc(n, sizeof *nodes);
    pfds = calloc(n, sizeof *pfds);
    if (!nodes || !pfds) return 1;
    nnodes = n;
    base_port = base;
    uint64_t t0 = now_ms();
    for (size_t i = 0; i < n; i++) {
        btt_dht_config cfg;
        btt_dht_config_default(&cfg);
        for (size_t k = 0; k < BTT_DHT_ID_LEN; k++) cfg.id[k] = (uint8_t)rnd();
        cfg.seed = rnd();
        cfg.rate_per_s = 1000; /* every node shares 127.0.0.1 */
        cfg.rate_burst = 2000;
        btt_error err = {0};
        if (btt_dht_new(&cfg, t0, &nodes[i].d, &err)) {
            fprintf(stderr, "dht_net: %s\n", btt_error_str(&err));
            return 1;
        }
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i))};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa)) {
            fprintf(stderr, "dht_net: bind 127.0.0.1:%zu: %s\n", base + i, strerror(errno));
            return 1;
        }
        int size = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        nodes[i].fd = fd;
        nodes[i].port = (uint16_t)(base + i);
        pfds[i].fd = fd;
        pfds[i].events = POLLIN;
    }
    printf("listening on 127.0.0.1:%u-%zu\n", base, base + n - 1);

    /* 1. join */
    nodes[0].joined = true;
    for (size_t i = 1; i < n && !stop_flag; i++) {
        btt_addr boot[2] = {loop_addr(nodes[0].port), loop_addr(nodes[rnd() % i].port)};
        nodes[i].joined = true;
        if (btt_dht_bootstrap(nodes[i].d, boot, 2, now_ms(), NULL)) return 1;
        flush(i);
        run(join_ms, false);
        if (i % 100 == 0) printf("joined %zu\n", i);
    }
    printf("joined %zu\n", n);
    run((uint64_t)settle_s * 1000, false);

    /* 2. announce */
    uint8_t (*ih)[20] = calloc(ntor, 20);
    size_t *ann = calloc(ntor * nann, sizeof *ann);
    if (!ih || !ann) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/hashes", dir);
    FILE *hf = fopen(path, "w");
    if (!hf) {
        fprintf(stderr, "dht_net: %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (size_t t = 0; t < ntor; t++) {
        for (size_t k = 0; k < 20; k++) ih[t][k] = (uint8_t)rnd();
        char hex[41];
        btt_hex(ih[t], 20, hex);
        fprintf(hf, "%s\n", hex);
        for (size_t a = 0; a < nann; a++) {
            size_t i = (size_t)(rnd() % n);
            ann[t * nann + a] = i;
            if (btt_dht_get_peers(nodes[i].d, ih[t], true, (uint16_t)(10000 + t * 10 + a), false, now_ms(), NULL) == BTT_OK)
                flush(i);
        }
        run(50, false);
    }
    fclose(hf);
    run(5000, false);
    printf("announced %zu hashes, %zu announcers each\n", ntor, nann);

    /* 3. lookups, one at a time */
    for (size_t t = 0; t < ntor && !stop_flag; t++) {
        size_t i;
        bool clash;
        do {
            i = (size_t)(rnd() % n);
            clash = false;
            for (size_t a = 0; a < nann; a++) clash |= ann[t * nann + a] == i;
        } while (clash);
        memset(&want, 0, sizeof want);
        want.node = i;
        if (btt_dht_get_peers(nodes[i].d, ih[t], false, 0, false, now_ms(), &want.handle)) continue;
        flush(i);
        run(30000, true);
        char hex[41];
        btt_hex(ih[t], 20, hex);
        printf("lookup %s queries %u first_peer_ms %llu duration_ms %llu peers %u hops %u\n", hex, want.st.queries,
               (unsigned long long)want.st.first_peer_ms, (unsigned long long)want.st.duration_ms, want.st.peers,
               want.st.hops);
        run(200, false);
    }

    /* 4. memory */
    struct mallinfo2 m1 = mallinfo2();
    size_t heap = m1.uordblks - m0.uordblks - held_bytes;
    printf("memory: rss %ld KiB for %zu nodes, heap %zu bytes in all, %zu per node\n", rss_kib(), n, heap, heap / n);
    size_t *sizes = calloc(n, sizeof *sizes);
    if (sizes) {
        for (size_t i = 0; i < n; i++) {
            btt_dht_rtable_info info;
            btt_dht_rtable_get_info(btt_dht_table(nodes[i].d, 4), now_ms(), &info);
            sizes[i] = info.nodes;
        }
        qsort(sizes, n, sizeof *sizes, cmp_size);
        printf("table: median %zu nodes per routing table (min %zu, max %zu)\n", sizes[n / 2], sizes[0], sizes[n - 1]);
        free(sizes);
    }
    snprintf(path, sizeof path, "%s/btt.done", dir);
    FILE *df = fopen(path, "w");
    if (df) fclose(df);
    printf("serving\n");
    while (!stop_flag) run(1000, false);
    for (size_t i = 0; i < n; i++) {
        btt_dht_free(nodes[i].d);
        close(nodes[i].fd);
    }
    free(nodes);
    free(pfds);
    free(ih);
    free(ann);
    return 0;
}
