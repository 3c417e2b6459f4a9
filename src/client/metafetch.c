/* metafetch.c - a magnet link's info dictionary from peers (BEP 9). See btt/metafetch.h.
 *
 * Its own small connections (TCP, libuv): a handshake with the extension bit, our extension
 * handshake offering ut_metadata, then ut_metadata requests. Everything else a peer sends is
 * read and ignored. The peers are left to the torrent once the metadata is in. */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/dht_glue.h"

#include <stdlib.h>
#include <string.h>

#include "btt/metafetch.h"
#include "btt/sha1.h"
#include "btt/ut_metadata.h"

#define MF_TICK_MS 500
#define MF_MAX_CONN 30           /* connections at once */
#define MF_MAX_CAND 1000         /* addresses remembered */
#define MF_CONNECT_MS 15000
#define MF_HANDSHAKE_MS 20000
#define MF_REQUEST_MS 15000      /* a piece asked for and not sent: ask another peer */
#define MF_MAX_TIMEOUTS 3        /* ... and after this many, drop the peer */
#define MF_PER_PEER 1            /* requests outstanding per peer: spreads the pieces over the peers */
#define MF_REJECT_HOLD_MS 5000   /* a peer that rejected is not asked again for this long */
#define MF_BAN_MS (3600u * 1000u)
#define MF_KEEPALIVE_MS 90000    /* a peer waiting for metadata itself must not time us out */
#define MF_MAX_MESSAGE ((1u << 20) + 16384u)
#define MF_RBUF (64u << 10)

enum { MF_CONNECTING, MF_HANDSHAKE, MF_ACTIVE, MF_CLOSING };
enum { PC_NEED, PC_ASKED, PC_HAVE };

typedef struct mf_peer {
    struct mf_peer *next;
    btt_metafetch *f;
    uv_tcp_t tcp;
    uv_connect_t conn;
    btt_addr addr;
    int state;
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t ut_metadata;         /* its id for BEP 9, 0: none */
    int64_t size;                /* the metadata_size it advertised, -1: none */
    uint64_t since_ms, hold_until_ms, last_send_ms;
    uint32_t rejects, timeouts;
} mf_peer;

typedef struct mf_cand {
    btt_addr addr;
    uint8_t fails;
    bool busy;
    uint64_t retry_ms;
} mf_cand;

struct btt_metafetch {
    btt_session *s;
    uint8_t ih[20];
    btt_metafetch_opts o;
    uv_timer_t timer;
    mf_cand *cand;
    size_t ncand, capcand;
    mf_peer *peers;
    btt_announcer *ann;
    /* the attempt in progress */
    uint32_t size, npieces;
    uint8_t *buf;
    uint8_t *pstate;
    mf_peer **asked;             /* who a PC_ASKED piece was asked of */
    uint64_t *asked_ms;
    btt_addr *from;              /* who sent each PC_HAVE piece */
    bool single;                 /* after a mixed failure: every piece from one peer */
    bool have_src;
    btt_addr src;
    uint32_t failures;
    /* the last attempt that failed with pieces from several peers: once the right bytes are in,
     * whoever sent a piece that differs from them lied */
    uint8_t *failed_buf;
    btt_addr *failed_from;
    uint32_t failed_size;
    bool done, closing;
    bool dht_watch;              /* the DHT looks the info-hash up for us (dht_glue_watch) */
    int open;                    /* handles not closed yet (timer, peers) + the announcer */
    void (*closed)(void *ud);
    void *closed_ud;
};

static uint64_t now_ms(const btt_metafetch *f) { return uv_now(f->s->loop); }

static mf_cand *find_cand(btt_metafetch *f, const btt_addr *a)
{
    for (size_t i = 0; i < f->ncand; i++)
        if (btt_addr_eq(&f->cand[i].addr, a)) return &f->cand[i];
    return NULL;
}

/* ---- the attempt ---- */

static void reset_attempt(btt_metafetch *f)
{
    free(f->buf);
    free(f->pstate);
    free(f->asked);
    free(f->asked_ms);
    free(f->from);
    f->buf = f->pstate = NULL;
    f->asked = NULL;
    f->asked_ms = NULL;
    f->from = NULL;
    f->size = f->npieces = 0;
}

static bool start_attempt(btt_metafetch *f, uint32_t size)
{
    f->size = size;
    f->npieces = btt_metadata_pieces(size);
    f->buf = malloc(size);
    f->pstate = calloc(f->npieces, 1);
    f->asked = calloc(f->npieces, sizeof *f->asked);
    f->asked_ms = calloc(f->npieces, sizeof *f->asked_ms);
    f->from = calloc(f->npieces, sizeof *f->from);
    if (f->buf && f->pstate && f->asked && f->asked_ms && f->from) return true;
    reset_attempt(f);
    return false;
}

static uint32_t piece_len(const btt_metafetch *f, uint32_t i)
{
    return i + 1 < f->npieces ? BTT_METADATA_PIECE : f->size - (f->npieces - 1) * BTT_METADATA_PIECE;
}

static uint32_t outstanding(const btt_metafetch *f, const mf_peer *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->npieces; i++) n += f->pstate[i] == PC_ASKED && f->asked[i] == p;
    return n;
}

/* ---- connections ---- */

typedef struct mf_write {
    uv_write_t req;
    uint8_t *data;
} mf_write;

static void peer_closed_cb(uv_handle_t *h);
static void mf_maybe_closed(btt_metafetch *f);

static void mf_peer_close(mf_peer *p, const char *why)
{
    if (p->state == MF_CLOSING) return;
    btt_metafetch *f = p->f;
    char a[BTT_ADDR_STRLEN];
    BTT_LOGD(LOG_MOD, "metadata: peer %s closed: %s", btt_addr_format(&p->addr, a), why);
    bool connecting = p->state == MF_CONNECTING;
    p->state = MF_CLOSING;
    if (connecting && f->s->half_open) f->s->half_open--;
    for (uint32_t i = 0; i < f->npieces; i++)
        if (f->pstate[i] == PC_ASKED && f->asked[i] == p) f->pstate[i] = PC_NEED;
    if (f->have_src && btt_addr_eq(&f->src, &p->addr)) f->have_src = false;
    mf_cand *c = find_cand(f, &p->addr);
    if (c) c->busy = false;
    for (mf_peer **pp = &f->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    uv_close((uv_handle_t *)&p->tcp, peer_closed_cb);
}

static void peer_closed_cb(uv_handle_t *h)
{
    mf_peer *p = h->data;
    btt_metafetch *f = p->f;
    free(p->rbuf);
    free(p);
    f->open--;
    mf_maybe_closed(f);
}

static void on_written(uv_write_t *req, int status)
{
    mf_write *w = (mf_write *)req;
    (void)status; /* a failed write shows up as a read error */
    free(w->data);
    free(w);
}

static void send_buf(mf_peer *p, btt_buf *b)
{
    if (p->state == MF_CLOSING || !b->len) return;
    mf_write *w = malloc(sizeof *w);
    size_t len;
    uint8_t *data = btt_buf_steal(b, &len);
    if (!w || !data) {
        free(w);
        free(data);
        mf_peer_close(p, "out of memory");
        return;
    }
    w->data = data;
    p->last_send_ms = uv_now(p->f->s->loop);
    uv_buf_t ub = uv_buf_init((char *)data, (unsigned)len);
    int r = uv_write(&w->req, (uv_stream_t *)&p->tcp, &ub, 1, on_written);
    if (r) {
        free(data);
        free(w);
        mf_peer_close(p, uv_strerror(r));
    }
}

static void send_ut_metadata(mf_peer *p, int type, uint32_t piece)
{
    btt_buf m, b;
    btt_buf_init(&m, 256);
    btt_buf_init(&b, 256);
    if (btt_metadata_build(&m, type, piece) || btt_wire_extended(&b, p->ut_metadata, m.data, m.len))
        mf_peer_close(p, "out of memory");
    else send_buf(p, &b);
    btt_buf_free(&m);
    btt_buf_free(&b);
}

/* Asks p for pieces: ones nobody has been asked for first, then ones another peer is slow with. */
static void request_more(btt_metafetch *f, mf_peer *p)
{
    uint64_t now = now_ms(f);
    if (f->done || p->state != MF_ACTIVE || !p->ut_metadata || p->size <= 0 || now < p->hold_until_ms) return;
    if (f->single) {
        if (!f->have_src) {
            f->src = p->addr;
            f->have_src = true;
            char a[BTT_ADDR_STRLEN];
            BTT_LOGI(LOG_MOD, "metadata: fetching every piece from %s alone", btt_addr_format(&p->addr, a));
        }
        if (!btt_addr_eq(&f->src, &p->addr)) return;
    }
    if (!f->size && !start_attempt(f, (uint32_t)p->size)) return;
    if ((uint32_t)p->size != f->size) return; /* another size: asked only if this attempt fails */
    uint32_t n = outstanding(f, p);
    for (uint32_t i = 0; i < f->npieces && n < MF_PER_PEER; i++) {
        if (f->pstate[i] != PC_NEED) continue;
        f->pstate[i] = PC_ASKED;
        f->asked[i] = p;
        f->asked_ms[i] = now;
        send_ut_metadata(p, BTT_METADATA_REQUEST, i);
        n++;
    }
    for (uint32_t i = 0; i < f->npieces && n < MF_PER_PEER; i++) {
        if (f->pstate[i] != PC_ASKED || f->asked[i] == p || now - f->asked_ms[i] < MF_REQUEST_MS / 3) continue;
        f->asked[i] = p; /* the first peer's answer is still taken if it comes */
        f->asked_ms[i] = now;
        send_ut_metadata(p, BTT_METADATA_REQUEST, i);
        n++;
    }
}

static void request_all(btt_metafetch *f)
{
    for (mf_peer *p = f->peers, *next; p; p = next) {
        next = p->next;
        request_more(f, p);
    }
}

static void mf_ban(btt_metafetch *f, const btt_addr *a)
{
    session_ban(f->s, a, MF_BAN_MS, "sent metadata that does not match the info-hash");
    for (mf_peer *p = f->peers, *next; p; p = next) {
        next = p->next;
        if (btt_addr_eq(&p->addr, a)) mf_peer_close(p, "sent bad metadata");
    }
}

static void forget_failed(btt_metafetch *f)
{
    free(f->failed_buf);
    free(f->failed_from);
    f->failed_buf = NULL;
    f->failed_from = NULL;
    f->failed_size = 0;
}

/* The metadata is verified: the senders of pieces of the failed mixed attempt that differ lied. */
static void ban_liars(btt_metafetch *f)
{
    if (!f->failed_buf) return;
    for (uint32_t i = 0; i < btt_metadata_pieces(f->failed_size); i++) {
        size_t off = (size_t)i * BTT_METADATA_PIECE;
        size_t n = f->failed_size - off < BTT_METADATA_PIECE ? f->failed_size - off : BTT_METADATA_PIECE;
        if (f->failed_size != f->size || memcmp(f->failed_buf + off, f->buf + off, n) != 0) {
            char a[BTT_ADDR_STRLEN];
            BTT_LOGW(LOG_MOD, "metadata piece %u from %s was wrong: dropping the peer", i,
                     btt_addr_format(&f->failed_from[i], a));
            mf_ban(f, &f->failed_from[i]);
        }
    }
    forget_failed(f);
}

static void verify(btt_metafetch *f)
{
    uint8_t h[20];
    btt_sha1(f->buf, f->size, h);
    if (memcmp(h, f->ih, 20) == 0) {
        f->done = true;
        ban_liars(f);
        BTT_LOGI(LOG_MOD, "metadata: %u bytes in %u pieces, info-hash verified", f->size, f->npieces);
        if (f->o.on_done) f->o.on_done(f->o.ud, f, f->buf, f->size);
        return;
    }
    f->failures++;
    btt_addr first = f->from[0];
    bool one = true;
    for (uint32_t i = 1; i < f->npieces; i++) one &= btt_addr_eq(&f->from[i], &first);
    char a[BTT_ADDR_STRLEN];
    if (one) {
        BTT_LOGW(LOG_MOD, "metadata from %s does not match the info-hash: dropping the peer",
                 btt_addr_format(&first, a));
        mf_ban(f, &first);
    } else {
        BTT_LOGW(LOG_MOD, "metadata from several peers does not match the info-hash: fetching it from one peer at a time");
        forget_failed(f);
        f->failed_buf = f->buf;
        f->failed_from = f->from;
        f->failed_size = f->size;
        f->buf = NULL;
        f->from = NULL;
    }
    f->single = true;
    f->have_src = false;
    reset_attempt(f);
    request_all(f);
}

static void on_data(btt_metafetch *f, mf_peer *p, const btt_metadata_msg *m)
{
    if (!f->size || m->total_size != (int64_t)f->size || m->piece >= f->npieces) return; /* not ours */
    if (m->data_len != piece_len(f, m->piece)) {
        mf_peer_close(p, "metadata piece of the wrong length");
        return;
    }
    if (f->pstate[m->piece] == PC_HAVE) return;
    if (f->single && !btt_addr_eq(&p->addr, &f->src)) return; /* one source at a time */
    memcpy(f->buf + (size_t)m->piece * BTT_METADATA_PIECE, m->data, m->data_len);
    f->pstate[m->piece] = PC_HAVE;
    f->from[m->piece] = p->addr;
    p->timeouts = 0;
    for (uint32_t i = 0; i < f->npieces; i++)
        if (f->pstate[i] != PC_HAVE) {
            request_more(f, p);
            return;
        }
    verify(f);
}

static void on_ut_metadata(btt_metafetch *f, mf_peer *p, const btt_msg *m)
{
    btt_metadata_msg mm;
    btt_error err = {0};
    if (btt_metadata_parse(m->data, m->data_len, &mm, &err)) {
        mf_peer_close(p, btt_error_str(&err));
        return;
    }
    if (mm.type == BTT_METADATA_REQUEST) { /* we do not have it yet */
        if (p->ut_metadata) send_ut_metadata(p, BTT_METADATA_REJECT, mm.piece);
    } else if (mm.type == BTT_METADATA_REJECT) {
        if (mm.piece < f->npieces && f->pstate[mm.piece] == PC_ASKED && f->asked[mm.piece] == p)
            f->pstate[mm.piece] = PC_NEED;
        p->hold_until_ms = now_ms(f) + MF_REJECT_HOLD_MS;
        if (++p->rejects > 2 * f->npieces + 4) mf_peer_close(p, "rejects every metadata request");
        else request_all(f);
    } else {
        on_data(f, p, &mm);
    }
}

static void on_ext_handshake(btt_metafetch *f, mf_peer *p, const btt_msg *m)
{
    btt_ext_handshake h;
    btt_error err = {0};
    if (btt_ext_handshake_parse(m->data, m->data_len, &h, &err)) {
        mf_peer_close(p, btt_error_str(&err));
        return;
    }
    p->ut_metadata = btt_ext_handshake_id(&h, "ut_metadata");
    p->size = h.metadata_size;
    char a[BTT_ADDR_STRLEN];
    if (!p->ut_metadata) {
        mf_peer_close(p, "no ut_metadata");
        return;
    }
    if (p->size > (int64_t)BTT_METADATA_MAX) {
        mf_peer_close(p, "metadata_size too large");
        return;
    }
    BTT_LOGI(LOG_MOD, "metadata: peer %s (%s) offers %lld bytes", btt_addr_format(&p->addr, a),
             h.v[0] ? h.v : "?", (long long)p->size);
    request_more(f, p);
}

static void on_message(btt_metafetch *f, mf_peer *p, const btt_msg *m)
{
    if (m->id != BTT_MSG_EXTENDED) return; /* bitfields, haves, choke ...: not for us */
    if (m->ext_id == 0) on_ext_handshake(f, p, m);
    else if (m->ext_id == EXT_UT_METADATA) on_ut_metadata(f, p, m);
}

static void process(mf_peer *p)
{
    btt_metafetch *f = p->f;
    size_t off = 0;
    if (p->state == MF_HANDSHAKE) {
        btt_handshake hs;
        size_t used;
        btt_error err = {0};
        if (btt_wire_handshake_parse(p->rbuf, p->rlen, &hs, &used, &err)) {
            mf_peer_close(p, btt_error_str(&err));
            return;
        }
        if (!used) return;
        if (memcmp(hs.info_hash, f->ih, 20) != 0) {
            mf_peer_close(p, "handshake for another torrent");
            return;
        }
        if (memcmp(hs.peer_id, f->s->peer_id, 20) == 0) {
            mf_peer_close(p, "connected to ourselves");
            return;
        }
        if (!BTT_RSV_EXTENSION(hs.reserved)) {
            mf_peer_close(p, "no extension protocol (BEP 10)");
            return;
        }
        p->state = MF_ACTIVE;
        p->since_ms = now_ms(f);
        off = used;
    }
    btt_wire_limits lim = {0, MF_MAX_MESSAGE};
    while (p->state == MF_ACTIVE && !f->done) {
        btt_msg m;
        size_t used, need;
        btt_error err = {0};
        if (btt_wire_next(p->rbuf + off, p->rlen - off, &lim, &m, &used, &need, &err)) {
            mf_peer_close(p, btt_error_str(&err));
            return;
        }
        if (!used) {
            if (need > p->rcap) {
                uint8_t *nb = realloc(p->rbuf, need);
                if (!nb) {
                    mf_peer_close(p, "out of memory");
                    return;
                }
                p->rbuf = nb;
                p->rcap = need;
            }
            break;
        }
        on_message(f, p, &m);
        off += used;
    }
    if (p->state == MF_CLOSING || f->done) return;
    memmove(p->rbuf, p->rbuf + off, p->rlen - off);
    p->rlen -= off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mf_peer *p = h->data;
    (void)suggested;
    if (!p->rbuf && (p->rbuf = malloc(MF_RBUF))) p->rcap = MF_RBUF;
    *buf = uv_buf_init(p->rbuf ? (char *)p->rbuf + p->rlen : NULL, p->rbuf ? (unsigned)(p->rcap - p->rlen) : 0);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    mf_peer *p = st->data;
    (void)buf;
    if (p->state == MF_CLOSING) return;
    if (n < 0) {
        mf_peer_close(p, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    p->rlen += (size_t)n;
    process(p);
}

static void on_connect(uv_connect_t *req, int status)
{
    mf_peer *p = req->data;
    if (p->state == MF_CLOSING) return;
    btt_metafetch *f = p->f;
    if (f->s->half_open) f->s->half_open--;
    p->state = MF_HANDSHAKE;
    mf_cand *c = find_cand(f, &p->addr);
    if (status < 0) {
        if (c) {
            if (c->fails < 250) c->fails++;
            uint64_t delay = 2000ull << (c->fails < 6 ? c->fails - 1 : 5);
            c->retry_ms = now_ms(f) + delay;
        }
        mf_peer_close(p, uv_strerror(status));
        return;
    }
    if (c) c->fails = 0;
    p->since_ms = now_ms(f);
    uv_tcp_nodelay(&p->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (r) {
        mf_peer_close(p, uv_strerror(r));
        return;
    }
    uint8_t hs[BTT_HANDSHAKE_LEN], rsv[8] = {0};
    rsv[5] |= 0x10; /* BEP 10 */
    btt_wire_handshake_build(hs, rsv, f->ih, f->s->peer_id);
    static const btt_ext_item m[] = {{"ut_metadata", EXT_UT_METADATA}};
    btt_buf b, eh;
    btt_buf_init(&b, 1 << 16);
    btt_buf_init(&eh, 1 << 16);
    if (btt_buf_append(&b, hs, sizeof hs) ||
        btt_ext_handshake_build(&eh, m, 1, "btt " BTT_VERSION, btt_session_listen_addr(f->s).port, 0, &p->addr, -1) ||
        btt_wire_extended(&b, 0, eh.data, eh.len))
        mf_peer_close(p, "out of memory");
    else send_buf(p, &b);
    btt_buf_free(&b);
    btt_buf_free(&eh);
}

static void connect_cand(btt_metafetch *f, mf_cand *c)
{
    mf_peer *p = calloc(1, sizeof *p);
    if (!p) return;
    p->f = f;
    p->addr = c->addr;
    p->size = -1;
    p->state = MF_CONNECTING;
    p->since_ms = now_ms(f);
    if (uv_tcp_init(f->s->loop, &p->tcp)) {
        free(p);
        return;
    }
    p->tcp.data = p;
    p->conn.data = p;
    f->open++;
    p->next = f->peers;
    f->peers = p;
    c->busy = true;
    c->retry_ms = now_ms(f) + 5000;
    struct sockaddr_storage ss;
    socklen_t len;
    const btt_addr *bind = &f->s->bind;
    if (bind->family == p->addr.family) {
        btt_addr b = *bind;
        b.port = 0;
        btt_addr_to_sockaddr(&b, &ss, &len);
        uv_tcp_bind(&p->tcp, (struct sockaddr *)&ss, 0); /* best effort: the source address */
    }
    btt_addr_to_sockaddr(&p->addr, &ss, &len);
    if (uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&ss, on_connect)) {
        p->state = MF_HANDSHAKE; /* not counted as half-open */
        mf_peer_close(p, "cannot connect");
        return;
    }
    f->s->half_open++;
}

static void connect_more(btt_metafetch *f)
{
    uint64_t now = now_ms(f);
    uint32_t n = 0;
    for (mf_peer *p = f->peers; p; p = p->next) n++;
    for (size_t i = 0; i < f->ncand && n < MF_MAX_CONN && f->s->half_open < f->s->o.max_half_open; i++) {
        mf_cand *c = &f->cand[i];
        if (c->busy || c->retry_ms > now || session_is_banned(f->s, &c->addr, now)) continue;
        connect_cand(f, c);
        n++;
    }
}

static void on_tick(uv_timer_t *h)
{
    btt_metafetch *f = h->data;
    if (f->done || f->closing) return;
    uint64_t now = now_ms(f);
    for (mf_peer *p = f->peers, *next; p; p = next) {
        next = p->next;
        if (p->state == MF_CONNECTING && now - p->since_ms > MF_CONNECT_MS) mf_peer_close(p, "connect timed out");
        else if (p->state == MF_HANDSHAKE && now - p->since_ms > MF_HANDSHAKE_MS) mf_peer_close(p, "handshake timed out");
        else if (p->state == MF_ACTIVE && now - p->last_send_ms > MF_KEEPALIVE_MS) {
            btt_buf b;
            btt_buf_init(&b, 16);
            if (btt_wire_keepalive(&b) == BTT_OK) send_buf(p, &b);
            btt_buf_free(&b);
        }
    }
    for (uint32_t i = 0; i < f->npieces; i++) {
        if (f->pstate[i] != PC_ASKED || now - f->asked_ms[i] < MF_REQUEST_MS) continue;
        mf_peer *p = f->asked[i];
        f->pstate[i] = PC_NEED;
        if (++p->timeouts >= MF_MAX_TIMEOUTS) mf_peer_close(p, "metadata requests timed out");
    }
    request_all(f);
    connect_more(f);
}

/* ---- trackers ---- */

static void ann_stats(void *ud, btt_announcer_stats *out)
{
    (void)ud;
    memset(out, 0, sizeof *out);
    out->left = 1; /* unknown until the metadata is in, but not nothing */
}

static void ann_peers(void *ud, const btt_addr *peers, size_t n)
{
    for (size_t i = 0; i < n; i++) btt_metafetch_add_peer(ud, &peers[i]);
}

static void dht_peer(void *ud, const btt_addr *a) { btt_metafetch_add_peer(ud, a); }

/* ---- the object ---- */

btt_err btt_metafetch_new(btt_session *s, const btt_metafetch_opts *o, btt_metafetch **out, btt_error *err)
{
    *out = NULL;
    btt_metafetch *f = calloc(1, sizeof *f);
    if (!f) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    f->s = s;
    f->o = *o;
    memcpy(f->ih, o->info_hash, 20);
    f->o.info_hash = f->ih;
    f->o.trackers = NULL;
    uv_timer_init(s->loop, &f->timer);
    f->timer.data = f;
    f->open = 1;
    uv_timer_start(&f->timer, on_tick, MF_TICK_MS, MF_TICK_MS);
    if (o->num_trackers && !s->o.no_trackers) {
        btt_tier tier = {(char **)o->trackers, o->num_trackers};
        btt_announcer_cbs cbs = {.ud = f, .stats = ann_stats, .peers = ann_peers};
        btt_error aerr = {0};
        if (btt_announcer_new(s->trackers, &tier, 1, f->ih, s->peer_id, btt_session_listen_addr(s).port, &cbs, &f->ann,
                              &aerr))
            BTT_LOGW(LOG_MOD, "metadata: trackers: %s", btt_error_str(&aerr));
    }
    f->dht_watch = dht_glue_watch(s, f->ih, dht_peer, f);
    *out = f;
    return BTT_OK;
}

void btt_metafetch_add_peer(btt_metafetch *f, const btt_addr *a)
{
    if (f->closing || a->port == 0 || find_cand(f, a) || f->ncand >= MF_MAX_CAND) return;
    btt_addr me = btt_session_listen_addr(f->s);
    if (btt_addr_eq(a, &me)) return;
    if (f->ncand == f->capcand) {
        size_t cap = f->capcand ? f->capcand * 2 : 16;
        mf_cand *v = realloc(f->cand, cap * sizeof *v);
        if (!v) return;
        f->cand = v;
        f->capcand = cap;
    }
    f->cand[f->ncand++] = (mf_cand){*a, 0, false, 0};
    if (!f->done) connect_more(f);
}

void btt_metafetch_stats_get(const btt_metafetch *f, btt_metafetch_stats *out)
{
    memset(out, 0, sizeof *out);
    out->size = f->size;
    out->pieces_total = f->npieces;
    for (uint32_t i = 0; i < f->npieces; i++) out->pieces_have += f->pstate[i] == PC_HAVE;
    for (const mf_peer *p = f->peers; p; p = p->next) {
        if (p->state != MF_ACTIVE) continue;
        out->connected++;
        out->peers += p->ut_metadata && p->size > 0;
    }
    out->candidates = (uint32_t)f->ncand;
    out->failures = f->failures;
}

size_t btt_metafetch_peers(const btt_metafetch *f, btt_addr *out, size_t max)
{
    size_t n = 0;
    uint64_t now = uv_now(f->s->loop);
    for (size_t i = 0; i < f->ncand && n < max; i++)
        if (!session_is_banned(f->s, &f->cand[i].addr, now)) out[n++] = f->cand[i].addr;
    return n;
}

static void mf_maybe_closed(btt_metafetch *f)
{
    if (!f->closing || f->open) return;
    void (*done)(void *) = f->closed;
    void *ud = f->closed_ud;
    reset_attempt(f);
    forget_failed(f);
    free(f->cand);
    free(f);
    if (done) done(ud);
}

static void timer_closed(uv_handle_t *h)
{
    btt_metafetch *f = h->data;
    f->open--;
    mf_maybe_closed(f);
}

static void ann_stopped(void *ud)
{
    btt_metafetch *f = ud;
    f->ann = NULL;
    f->open--;
    mf_maybe_closed(f);
}

void btt_metafetch_close(btt_metafetch *f, void (*done)(void *ud), void *ud)
{
    if (f->closing) return;
    f->closing = true;
    f->done = true;
    f->closed = done;
    f->closed_ud = ud;
    f->open++; /* held while closing starts */
    if (f->dht_watch) dht_glue_unwatch(f->s, f->ih);
    f->dht_watch = false;
    while (f->peers) mf_peer_close(f->peers, "metadata fetch over");
    if (f->ann) {
        f->open++;
        btt_announcer_stop(f->ann, 1000, ann_stopped, f);
    }
    uv_close((uv_handle_t *)&f->timer, timer_closed);
    f->open--;
    mf_maybe_closed(f);
}
