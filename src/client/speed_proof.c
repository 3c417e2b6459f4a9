/* speed_proof.c - source proofs (docs/speed-protocol.md 3.2-3.3): a peer that holds the block a
 * seeder challenges sends its SHA-1, and a seeder that gets a valid one knows the torrent is
 * held elsewhere, so its reserve price falls back to the base and a new challenge is drawn.
 *
 * The block (16 KiB at most) is read and hashed on the loop thread: it happens once per
 * challenge per connection, and a thread-pool job would have to outlive peers and torrents. */
#define BTT_CLIENT_INTERNAL
#include "client/speed_int.h"

#include <string.h>

#include "btt/sha1.h"

#define BAD_PROOFS_MAX 3
#define BAD_PROOF_WINDOW_MS (3600u * 1000u)

/* SHA-1 of our copy of (piece, chunk); false if we do not have it or cannot read it. */
static bool hash_block(btt_torrent *t, uint32_t piece, uint32_t chunk, uint8_t out[20])
{
    uint64_t off;
    uint32_t len;
    if (!btt_picker_have(t->pk, piece) || !btt_challenge_block_range(&t->sp->chal, piece, chunk, &off, &len))
        return false;
    uint8_t buf[BTT_SPEED_BLOCK];
    btt_error err = {0};
    if (btt_storage_read(t->st, off, buf, len, &err) != BTT_OK) {
        BTT_LOGW(LOG_MOD, "speed: reading a challenged block: %s", btt_error_str(&err));
        return false;
    }
    btt_sha1(buf, len, out);
    return true;
}

void speed_maybe_prove(btt_torrent *t, peer *p)
{
    speed_peer *sp = p->sp;
    if (!t->sp || !sp || !sp->active || !sp->has_reserve || sp->proof_sent || !sp->reserve) return;
    btt_speed_msg m;
    memset(&m, 0, sizeof m);
    m.type = BTT_SPEED_PROOF;
    m.piece = sp->ch_piece;
    m.chunk = sp->ch_chunk;
    if (!hash_block(t, m.piece, m.chunk, m.hash)) return;
    sp->proof_sent = true; /* once per challenge: a new reserve message clears it */
    speed_send(p, &m);
}

void speed_on_proof(btt_torrent *t, peer *p, const btt_speed_msg *m)
{
    speed_torrent *st = t->sp;
    speed_peer *sp = p->sp;
    if (!st->reserve_on) return; /* we are not seeding: no challenge out */
    uint8_t mine[20];
    bool valid = m->piece == st->chal.piece && m->chunk == st->chal.chunk &&
                 hash_block(t, m->piece, m->chunk, mine) && memcmp(mine, m->hash, 20) == 0;
    uint64_t now = uv_now(t->s->loop);
    if (!valid) {
        if (now - sp->bad_proof_ms > BAD_PROOF_WINDOW_MS) sp->bad_proofs = 0;
        sp->bad_proof_ms = now;
        speed_refuse(p, "bad-proof", "the proof does not match the current challenge");
        if (++sp->bad_proofs >= BAD_PROOFS_MAX) peer_close(p, "speed: invalid source proofs");
        return;
    }
    char acct[BTT_ACCOUNT_STR_LEN + 1];
    BTT_LOGI(LOG_MOD, "speed: %s proved it holds the torrent: reserve price back to %llu/KiB",
             btt_account_format(&sp->theirs.pk, acct), (unsigned long long)st->reserve.base);
    btt_reserve_held(&st->reserve, now);
    btt_challenge_uploaded(&st->chal, m->piece, m->chunk); /* the next challenge is another block */
    btt_challenge_next(&st->chal);
    speed_reserve_changed(t);
}
