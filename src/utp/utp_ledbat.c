/* utp_ledbat.c - LEDBAT congestion control (RFC 6817, BEP 29 "congestion control").
 *
 * The window is kept in bytes << 16. Per ack:
 *     off_target = (target - queuing_delay) / target            (at most 1)
 *     cwnd      += gain * off_target * acked / cwnd
 * so an empty queue grows the window by gain bytes per round trip. Above the target the
 * decrease is multiplicative as in LEDBAT++: cwnd += gain * acked / cwnd - acked *
 * (queuing_delay / target - 1), at least -acked / 2 (at most half the window per round trip).
 * queuing_delay is the minimum of the last few one-way delay samples minus the base delay,
 * the minimum over the last 9-10 minutes (one-minute buckets). Slow start (cwnd += acked)
 * runs until the first loss or until the queue reaches half the target. All arithmetic is
 * integral. */
#include "btt/utp.h"

#include <string.h>

#define FP 16
#define BUCKET_US (60ull * 1000000ull)
#define DRIFT_STEP_MAX_US 10000u

/* a < b modulo 2^32 */
static bool lt32(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static uint32_t min32w(uint32_t a, uint32_t b) { return lt32(a, b) ? a : b; }

void btt_ledbat_hist_init(btt_ledbat_hist *h, uint32_t bucket_us)
{
    memset(h, 0, sizeof *h);
    h->bucket_us = bucket_us;
}

static void hist_recompute(btt_ledbat_hist *h)
{
    uint32_t b = h->bucket[0];
    for (unsigned i = 1; i < BTT_LEDBAT_BASE_BUCKETS; i++) b = min32w(b, h->bucket[i]);
    h->base = b;
}

void btt_ledbat_hist_add(btt_ledbat_hist *h, uint32_t sample, uint64_t now_us)
{
    if (!h->have) {
        for (unsigned i = 0; i < BTT_LEDBAT_BASE_BUCKETS; i++) h->bucket[i] = sample;
        h->base = sample;
        h->bucket_start_us = now_us;
        h->have = true;
        return;
    }
    if (now_us >= h->bucket_start_us + h->bucket_us) {
        /* start a new bucket (or several: an idle gap ages every old minimum out) */
        uint64_t steps = (now_us - h->bucket_start_us) / h->bucket_us;
        if (steps > BTT_LEDBAT_BASE_BUCKETS) steps = BTT_LEDBAT_BASE_BUCKETS;
        for (uint64_t i = 0; i < steps; i++) {
            h->idx = (uint8_t)((h->idx + 1) % BTT_LEDBAT_BASE_BUCKETS);
            h->bucket[h->idx] = sample;
        }
        h->bucket_start_us = now_us;
        hist_recompute(h);
    }
    h->bucket[h->idx] = min32w(h->bucket[h->idx], sample);
    h->base = min32w(h->base, sample);
}

static void hist_adjust(btt_ledbat_hist *h, uint32_t d)
{
    for (unsigned i = 0; i < BTT_LEDBAT_BASE_BUCKETS; i++) h->bucket[i] += d;
    h->base += d;
}

void btt_ledbat_init(btt_ledbat *l, uint32_t mss, uint32_t target_us, uint32_t gain_bytes, uint32_t max_cwnd)
{
    memset(l, 0, sizeof *l);
    l->mss = mss ? mss : 1;
    l->target_us = target_us ? target_us : 100000;
    l->gain_bytes = gain_bytes;
    l->min_cwnd = 2 * l->mss;
    l->max_cwnd = max_cwnd < l->min_cwnd ? l->min_cwnd : max_cwnd;
    l->cwnd_fp = (int64_t)(2 * l->mss) << FP;
    l->slow_start = true;
    btt_ledbat_hist_init(&l->ours, (uint32_t)BUCKET_US);
    btt_ledbat_hist_init(&l->theirs, (uint32_t)BUCKET_US);
}

uint32_t btt_ledbat_cwnd(const btt_ledbat *l) { return (uint32_t)(l->cwnd_fp >> FP); }

void btt_ledbat_delay_sample(btt_ledbat *l, uint32_t ts_diff_us, uint64_t now_us)
{
    if (ts_diff_us == 0) return;
    btt_ledbat_hist_add(&l->ours, ts_diff_us, now_us);
    uint32_t q = ts_diff_us - l->ours.base;
    if ((int32_t)q < 0) q = 0; /* cannot happen after add; kept for clarity */
    l->cur[l->curi] = q;
    l->curi = (uint8_t)((l->curi + 1) % BTT_LEDBAT_CUR_FILTER);
    if (l->ncur < BTT_LEDBAT_CUR_FILTER) l->ncur++;
    uint32_t m = UINT32_MAX;
    for (unsigned i = 0; i < l->ncur; i++)
        if (l->cur[i] < m) m = l->cur[i];
    l->queuing_us = m;
}

void btt_ledbat_reply_sample(btt_ledbat *l, uint32_t reply_micro_us, uint64_t now_us)
{
    if (reply_micro_us == 0) return;
    bool had = l->theirs.have;
    uint32_t prev = l->theirs.base;
    btt_ledbat_hist_add(&l->theirs, reply_micro_us, now_us);
    if (!had || !l->ours.have) return;
    if (lt32(l->theirs.base, prev)) {
        uint32_t d = prev - l->theirs.base;
        if (d <= DRIFT_STEP_MAX_US) {
            hist_adjust(&l->ours, d);
            l->drift_adjust_us += d;
        }
    }
}

void btt_ledbat_on_ack(btt_ledbat *l, uint32_t acked, uint32_t flight)
{
    if (acked == 0) return;
    if (acked > (1u << 24)) acked = 1u << 24;
    int64_t cwnd = l->cwnd_fp >> FP;
    if (cwnd < 1) cwnd = 1;
    /* off_target in 1/65536 of the target, at most 1, at least -16 */
    int64_t off = (int64_t)l->target_us - (int64_t)l->queuing_us;
    int64_t factor = off * 65536 / (int64_t)l->target_us;
    if (factor < -16 * 65536) factor = -16 * 65536;
    /* gain * off_target * acked / cwnd, in bytes << 16 */
    int64_t delta = factor * (int64_t)l->gain_bytes / cwnd * (int64_t)acked;
    if (off < 0) {
        /* Above the target the decrease is multiplicative (LEDBAT++, draft-irtf-iccrg-ledbat-
         * plus-plus 4.2): per window of acks, gain - cwnd * (queuing / target - 1), at most half
         * the window. RFC 6817's linear decrease (gain * off_target per round trip) took about
         * 10 s to leave a TCP flow a 40 Mbit/s link (swarm_utp_ledbat); this takes a few round
         * trips. */
        int64_t inc = ((int64_t)l->gain_bytes << FP) / cwnd * (int64_t)acked;
        int64_t excess = -off > (int64_t)l->target_us / 2 ? (int64_t)l->target_us / 2 : -off;
        int64_t dec = ((int64_t)acked << FP) / (int64_t)l->target_us * excess;
        delta = inc - dec;
        if (delta < -(((int64_t)acked << FP) / 2)) delta = -(((int64_t)acked << FP) / 2);
    }
    if (l->slow_start) {
        int64_t ss = (int64_t)acked << FP;
        if (l->queuing_us > l->target_us / 2 ||
            (l->ssthresh && (uint64_t)((l->cwnd_fp + ss) >> FP) > l->ssthresh))
            l->slow_start = false;
        else if (ss > delta)
            delta = ss;
    }
    /* an application- or receiver-limited sender does not grow its window (RFC 6817 2.4.1) */
    if (delta > 0 && (int64_t)flight + 2 * (int64_t)l->mss < cwnd) delta = 0;
    int64_t n = l->cwnd_fp + delta;
    int64_t lo = (int64_t)l->min_cwnd << FP, hi = (int64_t)l->max_cwnd << FP;
    if (delta < 0 && n < lo) n = l->cwnd_fp < lo ? l->cwnd_fp : lo; /* decrease stops at the floor */
    if (n > hi) n = hi;
    l->cwnd_fp = n;
}

void btt_ledbat_on_loss(btt_ledbat *l)
{
    int64_t lo = (int64_t)l->min_cwnd << FP;
    int64_t n = l->cwnd_fp / 2;
    if (n < lo) n = lo;
    l->cwnd_fp = n;
    l->ssthresh = (uint32_t)(n >> FP);
    l->slow_start = false;
}

void btt_ledbat_on_timeout(btt_ledbat *l)
{
    uint32_t half = btt_ledbat_cwnd(l) / 2;
    l->ssthresh = half < l->min_cwnd ? l->min_cwnd : half;
    l->cwnd_fp = (int64_t)l->mss << FP;
    l->slow_start = true;
}
