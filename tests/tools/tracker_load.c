/* tracker_load - a bounded loopback load generator for BitTorrent trackers (bench/tracker.sh).
 *
 *   tracker_load udp HOST:PORT [options]    BEP 15 announces, one socket, a window of requests
 *                                           in flight, sent and received in batches
 *   tracker_load http HOST:PORT [options]   HTTP GET /announce on C connections, one request
 *                                           at a time each (keep-alive when the server keeps the
 *                                           connection, a new connection when it closes it)
 * options:
 *   --seconds S     how long to measure (default 5)
 *   --torrents N    info-hashes (default 1000)
 *   --peers N       ports per torrent (default 100): announce k goes to torrent k % N as the
 *                   peer on port 1000 + (k / torrents) % peers, so the swarms are the same
 *                   whichever tracker is measured
 *   --window W      UDP requests in flight (default 256)
 *   --conns C       HTTP connections (default 64)
 *   --close         HTTP: send "Connection: close" (a new connection per request)
 *   --fill          announce every (torrent, port) pair once, then stop (for memory use)
 *   --numwant N     (default 50)
 *   tracker_load hashes - [--torrents N]   prints the info-hashes in hex (a whitelist)
 * Prints one line: "<proto>: N announces in S s = R/s (errors E, lost L, connections K)". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 64 };

static struct {
    double seconds;
    uint64_t torrents, peers, window, conns, numwant;
    bool close, fill;
    struct sockaddr_in addr;
} o = {5, 1000, 100, 256, 64, 50, false, false, {0}};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void info_hash(uint64_t t, uint8_t h[20])
{
    memset(h, 0, 20);
    memcpy(h, "btt-bench", 9);
    for (int i = 0; i < 8; i++) h[12 + i] = (uint8_t)(t >> (56 - 8 * i));
    h[11] = 0x5a;
}

static uint64_t total_pairs(void) { return o.torrents * o.peers; }
static void pair_of(uint64_t k, uint64_t *t, uint16_t *port)
{
    *t = k % o.torrents;
    *port = (uint16_t)(1000 + (k / o.torrents) % o.peers);
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}
static uint8_t *put64(uint8_t *p, uint64_t v) { return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- UDP ---- */

static bool udp_connect(int fd, uint64_t *cid)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        uint8_t q[16], r[2048];
        put32(put32(put64(q, 0x41727101980ULL), 0), 0xC0FFEE);
        send(fd, q, 16, 0);
        struct pollfd pf = {fd, POLLIN, 0};
        while (poll(&pf, 1, 250) > 0) {
            ssize_t n = recv(fd, r, sizeof r, 0);
            if (n >= 16 && get32(r) == 0 && get32(r + 4) == 0xC0FFEE) {
                *cid = (uint64_t)get32(r + 8) << 32 | get32(r + 12);
                return true;
            }
        }
    }
    return false;
}

static int run_udp(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (connect(fd, (struct sockaddr *)&o.addr, sizeof o.addr) != 0) {
        perror("connect");
        return 2;
    }
    uint64_t cid;
    if (!udp_connect(fd, &cid)) {
        fprintf(stderr, "udp: no connect reply\n");
        return 1;
    }
    double cid_time = now_s();
    static uint8_t out[BATCH][98], in[BATCH][2048];
    struct mmsghdr mo[BATCH], mi[BATCH];
    struct iovec io[BATCH], ii[BATCH];
    uint64_t k = 0, ok = 0, errors = 0, lost = 0, inflight = 0, limit = o.fill ? total_pairs() : UINT64_MAX;
    double start = now_s(), end = start + o.seconds, last_rx = start;
    while (now_s() < end) {
        if (now_s() - cid_time > 50) {
            if (!udp_connect(fd, &cid)) break;
            cid_time = now_s();
        }
        /* top the window up */
        int nb = 0;
        while (inflight + (uint64_t)nb < o.window && nb < BATCH && k < limit) {
            uint64_t t;
            uint16_t port;
            pair_of(k, &t, &port);
            uint8_t *p = out[nb];
            p = put32(put32(put64(p, cid), 1), (uint32_t)k);
            info_hash(t, p);
            memset(p + 20, 0, 20);
            memcpy(p + 20, "-BL0001-", 8);
            p[28] = (uint8_t)port, p[29] = (uint8_t)(port >> 8);
            p += 40;
            p = put64(p, 0);
            p = put64(p, (k / total_pairs()) % 2 ? 0 : 1000); /* left: alternate seed/leech per round */
            p = put64(p, 0);
            p = put32(p, 0);
            p = put32(p, 0);
            p = put32(p, (uint32_t)k);
            p = put32(p, (uint32_t)o.numwant);
            p[0] = (uint8_t)(port >> 8), p[1] = (uint8_t)port;
            io[nb] = (struct iovec){out[nb], 98};
            memset(&mo[nb], 0, sizeof mo[nb]);
            mo[nb].msg_hdr.msg_iov = &io[nb];
            mo[nb].msg_hdr.msg_iovlen = 1;
            nb++;
            k++;
        }
        if (nb) {
            int s = sendmmsg(fd, mo, (unsigned)nb, 0);
            if (s > 0) inflight += (uint64_t)s;
        }
        for (int i = 0; i < BATCH; i++) {
            ii[i] = (struct iovec){in[i], sizeof in[i]};
            memset(&mi[i], 0, sizeof mi[i]);
            mi[i].msg_hdr.msg_iov = &ii[i];
            mi[i].msg_hdr.msg_iovlen = 1;
        }
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, inflight >= o.window || k >= limit ? 20 : 0) <= 0) {
            if (inflight && now_s() - last_rx > 0.2) { /* the rest is lost */
                lost += inflight;
                inflight = 0;
            }
            if (k >= limit && !inflight) break;
            continue;
        }
        int n = recvmmsg(fd, mi, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) continue;
        last_rx = now_s();
        for (int i = 0; i < n; i++) {
            if (inflight) inflight--;
            if (mi[i].msg_len >= 20 && get32(in[i]) == 1) ok++;
            else errors++;
            if (mi[i].msg_len >= 8 && get32(in[i]) == 3) {
                /* an expired connection id: get a new one */
                if (udp_connect(fd, &cid)) cid_time = now_s();
            }
        }
    }
    double el = now_s() - start;
    printf("udp: %llu announces in %.2f s = %.0f/s (errors %llu, lost %llu, connections 1)\n", (unsigned long long)ok,
           el, ok / el, (unsigned long long)errors, (unsigned long long)lost);
    close(fd);
    return ok ? 0 : 1;
}

/* ---- HTTP ---- */

typedef struct hconn {
    int fd;
    char out[512];
    size_t olen, osent;
    char in[65536];
    size_t ilen;
    bool busy;
} hconn;

static const char hexd[] = "0123456789ABCDEF";

static size_t build_req(char *buf, uint64_t k)
{
    uint64_t t;
    uint16_t port;
    pair_of(k, &t, &port);
    uint8_t h[20];
    info_hash(t, h);
    char ih[61];
    for (int i = 0; i < 20; i++) ih[3 * i] = '%', ih[3 * i + 1] = hexd[h[i] >> 4], ih[3 * i + 2] = hexd[h[i] & 15];
    ih[60] = 0;
    return (size_t)snprintf(buf, 512,
                            "GET /announce?info_hash=%s&peer_id=-BL0001-%012u&port=%u&uploaded=0&downloaded=0"
                            "&left=%u&compact=1&numwant=%u HTTP/1.1\r\nHost: bench\r\n%s\r\n",
                            ih, (unsigned)port, (unsigned)port, (k / total_pairs()) % 2 ? 0u : 1000u,
                            (unsigned)o.numwant, o.close ? "Connection: close\r\n" : "");
}

static int hopen(int ep, hconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&o.addr, sizeof o.addr) != 0 && errno != EINPROGRESS) return -1;
    c->ilen = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void hclose(int ep, hconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* A complete response at the start of c->in: its length, or 0. *close: the server closes. */
static size_t resp_len(hconn *c, bool *closes, bool *good)
{
    char *e = memmem(c->in, c->ilen, "\r\n\r\n", 4);
    if (!e) return 0;
    size_t head = (size_t)(e - c->in) + 4;
    char *cl = memmem(c->in, head, "Content-Length:", 15);
    if (!cl) cl = memmem(c->in, head, "Content-length:", 15);
    if (!cl) cl = memmem(c->in, head, "content-length:", 15);
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    if (c->ilen < head + body) return 0;
    *closes = memmem(c->in, head, "Connection: close", 17) || memmem(c->in, head, "HTTP/1.0", 8);
    *good = memmem(c->in, head, " 200 ", 5) && !memmem(c->in + head, body, "failure reason", 14);
    return head + body;
}

static int run_http(void)
{
    int ep = epoll_create1(0);
    hconn *cs = calloc(o.conns, sizeof *cs);
    uint64_t k = 0, ok = 0, errors = 0, opened = 0, limit = o.fill ? total_pairs() : UINT64_MAX;
    for (uint64_t i = 0; i < o.conns; i++) {
        if (hopen(ep, &cs[i]) != 0) {
            perror("connect");
            return 2;
        }
        opened++;
    }
    double start = now_s(), end = start + o.seconds;
    struct epoll_event evs[256];
    while (now_s() < end) {
        bool idle = true;
        for (uint64_t i = 0; i < o.conns; i++) {
            hconn *c = &cs[i];
            if (c->fd >= 0 && !c->busy && k < limit) {
                c->olen = build_req(c->out, k++);
                c->osent = 0;
                c->busy = true;
                ssize_t n = send(c->fd, c->out, c->olen, MSG_NOSIGNAL);
                if (n > 0) c->osent = (size_t)n;
            }
            if (c->busy) idle = false;
        }
        if (idle && k >= limit) break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            hconn *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (c->busy && c->osent < c->olen) {
                ssize_t w = send(c->fd, c->out + c->osent, c->olen - c->osent, MSG_NOSIGNAL);
                if (w > 0) c->osent += (size_t)w;
            }
            bool dead = false;
            for (;;) {
                ssize_t r = recv(c->fd, c->in + c->ilen, sizeof c->in - c->ilen, 0);
                if (r > 0) {
                    c->ilen += (size_t)r;
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) dead = true;
                break;
            }
            bool closes = false, good = false;
            size_t len = resp_len(c, &closes, &good);
            if (len) {
                if (good) ok++;
                else errors++;
                c->busy = false;
                memmove(c->in, c->in + len, c->ilen - len);
                c->ilen -= len;
            }
            if (dead || closes) {
                if (c->busy) errors++; /* closed before answering */
                c->busy = false;
                hclose(ep, c);
                if (hopen(ep, c) == 0) opened++;
            }
        }
    }
    double el = now_s() - start;
    printf("http: %llu announces in %.2f s = %.0f/s (errors %llu, lost 0, connections %llu)\n",
           (unsigned long long)ok, el, ok / el, (unsigned long long)errors, (unsigned long long)opened);
    for (uint64_t i = 0; i < o.conns; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);
    free(cs);
    close(ep);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tracker_load udp|http HOST:PORT [--seconds S] [--torrents N] [--peers N]\n"
                        "       [--window W] [--conns C] [--close] [--fill] [--numwant N]\n");
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "hashes") != 0) {
        char host[64];
        const char *colon = strrchr(argv[2], ':');
        if (!colon || (size_t)(colon - argv[2]) >= sizeof host) return 2;
        memcpy(host, argv[2], (size_t)(colon - argv[2]));
        host[colon - argv[2]] = 0;
        o.addr.sin_family = AF_INET;
        o.addr.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &o.addr.sin_addr) != 1) {
            fprintf(stderr, "bad address %s\n", argv[2]);
            return 2;
        }
    }
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(a, "--seconds")) o.seconds = atof(v), i++;
        else if (!strcmp(a, "--torrents")) o.torrents = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--peers")) o.peers = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--window")) o.window = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--conns")) o.conns = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--numwant")) o.numwant = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--close")) o.close = true;
        else if (!strcmp(a, "--fill")) o.fill = true;
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    if (!o.torrents || !o.peers || !o.window || !o.conns || o.peers > 60000) return 2;
    if (o.fill) o.seconds = 600;
    if (!strcmp(mode, "hashes")) {
        for (uint64_t t = 0; t < o.torrents; t++) {
            uint8_t h[20];
            info_hash(t, h);
            for (int i = 0; i < 20; i++) printf("%02x", h[i]);
            printf("\n");
        }
        return 0;
    }
    if (!strcmp(mode, "udp")) return run_udp();
    if (!strcmp(mode, "http")) return run_http();
    fprintf(stderr, "mode must be udp or http\n");
    return 2;
}
