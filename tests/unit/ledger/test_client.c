/* Unit tests for the ledger API client's response parsers (btt/ledger_client.h) against good,
 * broken and hostile bodies (no server), and for the ledger's per-account channel index
 * (btt_ledger_foreach_channel_of) that GET /v1/accounts/{account}/channels serves. */
#include "fixture.h"

#include <stdlib.h>

#include "btt/ledger_client.h"

#define T0 1000000

#define ACCT_A "btt16cjuagdjwgb5upoaaekhdemgsxtow2hbkuq5ny3cxoze24jbnyneea27eq"
#define HEX64 "9f1c00000000000000000000000000000000000000000000000000000000e2e2"

static btt_err parse_info(const char *s, btt_ledger_client_info *out)
{
    return btt_ledger_parse_info(s, strlen(s), out, NULL);
}

/* A real account name for the bodies (the constant above may not carry a valid checksum). */
static char A[BTT_ACCOUNT_STR_LEN + 1], B[BTT_ACCOUNT_STR_LEN + 1];

static int setup_names(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    btt_wallet *a = fx_wallet(0x41, 1), *b = fx_wallet(0x42, 2);
    btt_account_format(fx_acct(a), A);
    btt_account_format(fx_acct(b), B);
    btt_wallet_free(a);
    btt_wallet_free(b);
    return 0;
}

static void test_info(void **state)
{
    (void)state;
    btt_ledger_client_info info;
    const char *good = "{\"ledger_id\":\"" HEX64 "\",\"name\":\"testnet\",\"height\":101,\"time\":1795709681,"
                       "\"accounts\":57,\"channels\":0,\"supply\":\"1000000\",\"supply_units\":1000000000000,"
                       "\"faucet_grant\":\"100\",\"faucet_grant_units\":100000000,\"faucet_bits\":8,"
                       "\"commits\":57,\"committed_ops\":107,\"future_field\":[1,2]}";
    assert_int_equal(parse_info(good, &info), BTT_OK);
    assert_string_equal(info.name, "testnet");
    assert_int_equal(info.height, 101);
    assert_int_equal(info.faucet_bits, 8);
    assert_int_equal(btt_amount_units(info.faucet_grant), 100000000);
    assert_int_equal(info.ledger_id[0], 0x9f);

    static const char *bad[] = {
        "",
        "null",
        "[]",
        "\"x\"",
        "{",
        "{\"ledger_id\":\"" HEX64 "\"}", /* fields missing */
        /* wrong types and ranges, one field at a time */
        "{\"ledger_id\":12,\"name\":\"t\",\"height\":1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"zz\",\"name\":\"t\",\"height\":1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"\",\"height\":1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":-1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":1.5,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":\"1\",\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":1,\"time\":1,\"supply_units\":990000000000000001,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":65}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":99999999999999999999,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"height\":null,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\\u0000x\",\"height\":1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
        /* duplicate keys */
        "{\"ledger_id\":\"" HEX64 "\",\"name\":\"t\",\"name\":\"u\",\"height\":1,\"time\":1,\"supply_units\":1,\"faucet_grant_units\":1,\"faucet_bits\":8}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        btt_error err = {0};
        memset(&info, 0x5a, sizeof info);
        btt_ledger_client_info before = info;
        assert_int_equal(btt_ledger_parse_info(bad[i], strlen(bad[i]), &info, &err), BTT_EPROTO);
        assert_true(err.msg[0] != 0);
        assert_memory_equal(&info, &before, sizeof info); /* untouched on failure */
    }
    /* a body with an embedded NUL before the end: not taken as the shorter text */
    const char nul[] = "{\"a\":1}\0garbage";
    assert_int_equal(btt_ledger_parse_info(nul, sizeof nul - 1, &info, NULL), BTT_EPROTO);
}

static void test_account(void **state)
{
    (void)state;
    char body[512];
    btt_ledger_account_info ai;
    snprintf(body, sizeof body,
             "{\"account\":\"%s\",\"balance\":\"5\",\"balance_units\":5000000,\"nonce\":3,\"faucet_used\":true}", A);
    assert_int_equal(btt_ledger_parse_account(body, strlen(body), &ai, NULL), BTT_OK);
    assert_int_equal(btt_amount_units(ai.balance), 5000000);
    assert_int_equal(ai.nonce, 3);
    assert_true(ai.faucet_used);
    /* the decimal string is for people: the units decide */
    snprintf(body, sizeof body,
             "{\"account\":\"%s\",\"balance\":\"lots\",\"balance_units\":7,\"nonce\":0,\"faucet_used\":false}", A);
    assert_int_equal(btt_ledger_parse_account(body, strlen(body), &ai, NULL), BTT_OK);
    assert_int_equal(btt_amount_units(ai.balance), 7);

    const char *fmt[] = {
        "{\"account\":\"%s\",\"balance_units\":\"5\",\"nonce\":0,\"faucet_used\":false}",
        "{\"account\":\"%s\",\"balance_units\":5,\"nonce\":0,\"faucet_used\":0}",
        "{\"account\":\"%s\",\"balance_units\":5,\"nonce\":-3,\"faucet_used\":false}",
        "{\"account\":\"%s\",\"balance_units\":-5,\"nonce\":0,\"faucet_used\":false}",
        "{\"account\":\"%s\",\"balance_units\":1e3,\"nonce\":0,\"faucet_used\":false}",
        "{\"account\":\"%s\",\"balance_units\":9223372036854775807,\"nonce\":0,\"faucet_used\":false}",
        "{\"account\":\"%s\",\"nonce\":0,\"faucet_used\":false}",
        "{\"account\":\"%.20s\",\"balance_units\":5,\"nonce\":0,\"faucet_used\":false}",
        "{\"account\":[\"%s\"],\"balance_units\":5,\"nonce\":0,\"faucet_used\":false}",
    };
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        snprintf(body, sizeof body, fmt[i], A);
        btt_error err = {0};
        assert_int_equal(btt_ledger_parse_account(body, strlen(body), &ai, &err), BTT_EPROTO);
    }
    snprintf(body, sizeof body, "{\"account\":\"%s\",\"balance_units\":5,\"nonce\":0,\"faucet_used\":false}",
             ACCT_A "x");
    assert_int_equal(btt_ledger_parse_account(body, strlen(body), &ai, NULL), BTT_EPROTO);
}

static int channel_body(char *out, size_t cap, const char *payer, const char *payee, uint64_t dep, uint64_t cl,
                        uint64_t locked, const char *state, const char *role)
{
    return snprintf(out, cap,
                    "{\"id\":\"" HEX64 "\",\"payer\":\"%s\",\"payee\":\"%s\",\"deposit_units\":%llu,"
                    "\"claimed_units\":%llu,\"locked_units\":%llu,\"seq\":4,\"expiry\":1795800000,"
                    "\"state\":\"%s\"%s%s%s}",
                    payer, payee, (unsigned long long)dep, (unsigned long long)cl, (unsigned long long)locked, state,
                    role ? ",\"role\":\"" : "", role ? role : "", role ? "\"" : "");
}

static void test_channel(void **state)
{
    (void)state;
    char body[1024];
    btt_ledger_client_channel ch;
    channel_body(body, sizeof body, A, B, 10000000, 2500000, 7500000, "open", NULL);
    assert_int_equal(btt_ledger_parse_channel(body, strlen(body), &ch, NULL), BTT_OK);
    assert_int_equal(btt_amount_units(ch.locked), 7500000);
    assert_false(ch.expired);
    assert_int_equal(ch.info.seq, 4);
    channel_body(body, sizeof body, A, B, 10, 2, 8, "expired", NULL);
    assert_int_equal(btt_ledger_parse_channel(body, strlen(body), &ch, NULL), BTT_OK);
    assert_true(ch.expired);
    /* inconsistent or unknown values */
    channel_body(body, sizeof body, A, B, 10, 2, 9, "open", NULL); /* locked != deposit - claimed */
    assert_int_equal(btt_ledger_parse_channel(body, strlen(body), &ch, NULL), BTT_EPROTO);
    channel_body(body, sizeof body, A, B, 2, 10, 0, "open", NULL); /* claimed above deposit */
    assert_int_equal(btt_ledger_parse_channel(body, strlen(body), &ch, NULL), BTT_EPROTO);
    channel_body(body, sizeof body, A, B, 10, 2, 8, "closed", NULL);
    assert_int_equal(btt_ledger_parse_channel(body, strlen(body), &ch, NULL), BTT_EPROTO);
    channel_body(body, sizeof body, A, "btt1nope", 10, 2, 8, "open", NULL);
    assert_int_equal(btt_ledger_parse_channel(body, strlen(body), &ch, NULL), BTT_EPROTO);
}

static void test_channels(void **state)
{
    (void)state;
    char c1[1024], c2[1024], body[4096];
    btt_ledger_client_channels list;
    channel_body(c1, sizeof c1, A, B, 10, 0, 10, "open", "payer");
    channel_body(c2, sizeof c2, B, A, 5, 1, 4, "expired", "payee");
    snprintf(body, sizeof body, "{\"account\":\"%s\",\"channels\":[%s,%s],\"truncated\":false}", A, c1, c2);
    assert_int_equal(btt_ledger_parse_channels(body, strlen(body), &list, NULL), BTT_OK);
    assert_int_equal(list.n, 2);
    assert_true(list.v[0].is_payer);
    assert_false(list.v[1].is_payer);
    assert_true(list.v[1].expired);
    assert_false(list.truncated);
    btt_ledger_client_channels_free(&list);
    snprintf(body, sizeof body, "{\"account\":\"%s\",\"channels\":[],\"truncated\":true}", A);
    assert_int_equal(btt_ledger_parse_channels(body, strlen(body), &list, NULL), BTT_OK);
    assert_int_equal(list.n, 0);
    assert_true(list.truncated);
    btt_ledger_client_channels_free(&list);

    /* each of these is refused without leaking (ASan checks) */
    char bad[6][4096];
    snprintf(bad[0], sizeof bad[0], "{\"account\":\"%s\",\"channels\":{},\"truncated\":false}", A);
    snprintf(bad[1], sizeof bad[1], "{\"account\":\"%s\",\"channels\":[%s,7],\"truncated\":false}", A, c1);
    snprintf(bad[2], sizeof bad[2], "{\"account\":\"%s\",\"channels\":[%s],\"truncated\":\"no\"}", A, c1);
    /* a channel of someone else, claimed as the account's */
    snprintf(bad[3], sizeof bad[3], "{\"account\":\"%s\",\"channels\":[%s],\"truncated\":false}", B, c1);
    channel_body(c2, sizeof c2, A, B, 10, 0, 10, "open", "owner");
    snprintf(bad[4], sizeof bad[4], "{\"account\":\"%s\",\"channels\":[%s,%s],\"truncated\":false}", A, c1, c2);
    channel_body(c2, sizeof c2, A, B, 10, 0, 10, "open", NULL); /* role missing */
    snprintf(bad[5], sizeof bad[5], "{\"account\":\"%s\",\"channels\":[%s,%s],\"truncated\":false}", A, c1, c2);
    for (int i = 0; i < 6; i++) {
        btt_error err = {0};
        assert_int_equal(btt_ledger_parse_channels(bad[i], strlen(bad[i]), &list, &err), BTT_EPROTO);
    }
}

static void test_receipt(void **state)
{
    (void)state;
    btt_ledger_client_receipt rc;
    const char *ok = "{\"request_id\":\"r1\",\"op_id\":\"" HEX64 "\",\"type\":\"transfer\",\"result\":\"ok\","
                     "\"message\":\"accepted\",\"height\":1,\"time\":1795709681,\"amount\":\"5\",\"amount_units\":5000000,"
                     "\"balance\":\"399995\",\"balance_units\":399995000000}";
    assert_int_equal(btt_ledger_parse_receipt(ok, strlen(ok), &rc, NULL), BTT_OK);
    assert_int_equal(rc.reason, BTT_LEDGER_OK);
    assert_int_equal(rc.type, BTT_LEDGER_TRANSFER);
    assert_string_equal(rc.request_id, "r1");
    assert_int_equal(btt_amount_units(rc.amount), 5000000);
    assert_int_equal(btt_amount_units(rc.balance), 399995000000);
    assert_false(rc.has_channel);

    const char *rej = "{\"request_id\":\"r2\",\"op_id\":\"" HEX64 "\",\"type\":\"transfer\","
                      "\"result\":\"insufficient-funds\",\"message\":\"balance\\u001b[31m too low\",\"height\":7,\"time\":5}";
    assert_int_equal(btt_ledger_parse_receipt(rej, strlen(rej), &rc, NULL), BTT_OK);
    assert_int_equal(rc.reason, BTT_LEDGER_INSUFFICIENT);
    assert_string_equal(rc.result, "insufficient-funds");
    assert_string_equal(rc.message, "balance?[31m too low"); /* no escape sequence reaches a terminal */

    const char *newer = "{\"request_id\":\"r3\",\"op_id\":\"" HEX64 "\",\"type\":\"open\",\"result\":\"some-new-reason\","
                        "\"message\":\"m\",\"height\":7,\"time\":5}";
    assert_int_equal(btt_ledger_parse_receipt(newer, strlen(newer), &rc, NULL), BTT_OK);
    assert_int_equal(rc.reason, BTT_LEDGER_REASON_COUNT);

    const char *close_ok = "{\"request_id\":\"r4\",\"op_id\":\"" HEX64 "\",\"type\":\"close\",\"result\":\"ok\","
                           "\"message\":\"accepted\",\"height\":9,\"time\":5,\"amount_units\":3,\"balance_units\":3,"
                           "\"channel\":\"" HEX64 "\",\"refunded_units\":7}";
    assert_int_equal(btt_ledger_parse_receipt(close_ok, strlen(close_ok), &rc, NULL), BTT_OK);
    assert_true(rc.has_channel && rc.has_refunded);
    assert_int_equal(btt_amount_units(rc.refunded), 7);

    static const char *bad[] = {
        /* ok without amounts */
        "{\"request_id\":\"r\",\"op_id\":\"" HEX64 "\",\"type\":\"transfer\",\"result\":\"ok\",\"message\":\"m\",\"height\":1,\"time\":1}",
        /* close without refunded */
        "{\"request_id\":\"r\",\"op_id\":\"" HEX64 "\",\"type\":\"close\",\"result\":\"ok\",\"message\":\"m\",\"height\":1,\"time\":1,"
        "\"amount_units\":1,\"balance_units\":1,\"channel\":\"" HEX64 "\"}",
        /* open without channel */
        "{\"request_id\":\"r\",\"op_id\":\"" HEX64 "\",\"type\":\"open\",\"result\":\"ok\",\"message\":\"m\",\"height\":1,\"time\":1,"
        "\"amount_units\":1,\"balance_units\":1}",
        "{\"request_id\":\"r\",\"op_id\":\"" HEX64 "\",\"type\":\"mint\",\"result\":\"bad-nonce\",\"message\":\"m\",\"height\":1,\"time\":1}",
        "{\"request_id\":\"r\",\"op_id\":\"" HEX64 "\",\"type\":\"transfer\",\"result\":\"\",\"message\":\"m\",\"height\":1,\"time\":1}",
        "{\"request_id\":\"r\",\"op_id\":\"abc\",\"type\":\"transfer\",\"result\":\"bad-nonce\",\"message\":\"m\",\"height\":1,\"time\":1}",
        "{\"request_id\":\"r\",\"op_id\":\"" HEX64 "\",\"type\":\"transfer\",\"result\":\"bad-nonce\",\"message\":7,\"height\":1,\"time\":1}",
        "{\"request_id\":true,\"op_id\":\"" HEX64 "\",\"type\":\"transfer\",\"result\":\"bad-nonce\",\"message\":\"m\",\"height\":1,\"time\":1}",
        "{\"error\":\"bad-json\",\"message\":\"the body is not JSON\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(btt_ledger_parse_receipt(bad[i], strlen(bad[i]), &rc, NULL), BTT_EPROTO);
}

static void test_error_body(void **state)
{
    (void)state;
    char code[48], msg[256];
    const char *ok = "{\"error\":\"unknown-account\",\"message\":\"no such account\\non this ledger\"}";
    assert_int_equal(btt_ledger_parse_error(ok, strlen(ok), code, msg, NULL), BTT_OK);
    assert_string_equal(code, "unknown-account");
    assert_string_equal(msg, "no such account?on this ledger");
    static const char *bad[] = {
        "{\"error\":\"Unknown Account\",\"message\":\"m\"}",
        "{\"error\":\"\",\"message\":\"m\"}",
        "{\"error\":\"x\"}",
        "{\"error\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"message\":\"m\"}",
        "<html>502 Bad Gateway</html>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(btt_ledger_parse_error(bad[i], strlen(bad[i]), code, msg, NULL), BTT_EPROTO);
}

/* Random bytes and random mutations of a valid body: never a crash, never BTT_OK with garbage. */
static void test_mutations(void **state)
{
    (void)state;
    char body[1024], c1[1024];
    channel_body(c1, sizeof c1, A, B, 10, 0, 10, "open", "payer");
    int n = snprintf(body, sizeof body, "{\"account\":\"%s\",\"channels\":[%s],\"truncated\":false}", A, c1);
    for (int round = 0; round < 3000; round++) {
        char m[1024];
        memcpy(m, body, (size_t)n);
        int flips = 1 + (int)randombytes_uniform(4);
        for (int f = 0; f < flips; f++) m[randombytes_uniform((uint32_t)n)] = (char)randombytes_uniform(256);
        size_t len = (size_t)n - randombytes_uniform(3);
        btt_ledger_client_channels list;
        if (btt_ledger_parse_channels(m, len, &list, NULL) == BTT_OK) btt_ledger_client_channels_free(&list);
        btt_ledger_client_receipt rc;
        if (btt_ledger_parse_receipt(m, len, &rc, NULL) == BTT_OK) assert_true(rc.result[0] != 0);
        btt_ledger_client_info info;
        if (btt_ledger_parse_info(m, len, &info, NULL) == BTT_OK) assert_true(info.name[0] != 0);
    }
}

/* ------------------------------------------------------------------ the per-account index */

typedef struct seen {
    uint8_t ids[16][32];
    bool payer[16];
    size_t n;
    const btt_account *who;
} seen;

static bool collect(const btt_ledger_channel_info *info, void *ud)
{
    seen *s = ud;
    assert_true(s->n < 16);
    assert_true(btt_account_eq(&info->payer, s->who) || btt_account_eq(&info->payee, s->who));
    memcpy(s->ids[s->n], info->id, 32);
    s->payer[s->n] = btt_account_eq(&info->payer, s->who);
    s->n++;
    return true;
}

static bool stop_after_one(const btt_ledger_channel_info *info, void *ud)
{
    (void)info;
    (*(int *)ud)++;
    return false;
}

static bool listed(const seen *s, const uint8_t id[32])
{
    for (size_t i = 0; i < s->n; i++)
        if (!memcmp(s->ids[i], id, 32)) return true;
    return false;
}

static size_t list_of(fx *f, const btt_wallet *w, seen *s)
{
    memset(s, 0, sizeof *s);
    s->who = fx_acct(w);
    size_t n = btt_ledger_foreach_channel_of(f->l, fx_acct(w), collect, s);
    assert_int_equal(n, s->n);
    assert_int_equal(n, btt_ledger_num_channels_of(f->l, fx_acct(w)));
    return n;
}

static void test_index(void **state)
{
    (void)state;
    fx F;
    fx_init(&F, "btt-index");
    btt_wallet **u = F.user;
    for (int i = 0; i < 4; i++)
        assert_int_equal(fx_transfer(&F, F.pool[BTT_POOL_INVESTORS], fx_acct(u[i]), fx_btt(1000), T0), BTT_LEDGER_OK);
    uint8_t ch[6][32];
    /* u0 pays u1 twice and u2 once; u1 pays u0; u2 pays u3; u3 pays u7 (an account that does not exist) */
    assert_int_equal(fx_open(&F, u[0], u[1], fx_btt(10), T0 + 100, T0, ch[0]), BTT_LEDGER_OK);
    assert_int_equal(fx_open(&F, u[0], u[1], fx_btt(11), T0 + 100, T0, ch[1]), BTT_LEDGER_OK);
    assert_int_equal(fx_open(&F, u[0], u[2], fx_btt(12), T0 + 100, T0, ch[2]), BTT_LEDGER_OK);
    assert_int_equal(fx_open(&F, u[1], u[0], fx_btt(13), T0 + 100, T0, ch[3]), BTT_LEDGER_OK);
    assert_int_equal(fx_open(&F, u[2], u[3], fx_btt(14), T0 + 100, T0, ch[4]), BTT_LEDGER_OK);
    assert_int_equal(fx_open(&F, u[3], u[7], fx_btt(15), T0 + 50, T0, ch[5]), BTT_LEDGER_OK);
    seen s;
    assert_int_equal(list_of(&F, u[0], &s), 4);
    for (int i = 0; i < 4; i++) assert_true(listed(&s, ch[i]));
    assert_int_equal(list_of(&F, u[1], &s), 3);
    assert_int_equal(list_of(&F, u[2], &s), 2);
    assert_int_equal(list_of(&F, u[7], &s), 1); /* a payee without an account is listed too */
    assert_false(s.payer[0]);
    assert_int_equal(list_of(&F, u[5], &s), 0);
    int calls = 0;
    assert_int_equal(btt_ledger_foreach_channel_of(F.l, fx_acct(u[0]), stop_after_one, &calls), 1);
    assert_int_equal(calls, 1);

    /* close the middle of u0's list, the head, then refund an expired one: lists follow */
    assert_int_equal(fx_settle(&F, u[1], ch[1], NULL, true, T0 + 1, NULL), BTT_LEDGER_OK);
    assert_int_equal(list_of(&F, u[0], &s), 3);
    assert_false(listed(&s, ch[1]));
    assert_int_equal(list_of(&F, u[1], &s), 2);
    assert_int_equal(fx_settle(&F, u[0], ch[3], NULL, true, T0 + 1, NULL), BTT_LEDGER_OK);
    assert_int_equal(list_of(&F, u[0], &s), 2);
    assert_true(listed(&s, ch[0]) && listed(&s, ch[2]));
    assert_int_equal(fx_refund(&F, u[3], ch[5], T0 + 60, NULL), BTT_LEDGER_OK);
    assert_int_equal(list_of(&F, u[7], &s), 0);
    assert_int_equal(list_of(&F, u[3], &s), 1);
    /* many channels: the table grows and the lists survive it */
    for (int i = 0; i < 200; i++)
        assert_int_equal(fx_open(&F, u[2], u[i % 2 ? 0 : 1], fx_units(1000 + (uint64_t)i), T0 + 500, T0 + 61, NULL),
                         BTT_LEDGER_OK);
    assert_int_equal(btt_ledger_num_channels_of(F.l, fx_acct(u[2])), 202);
    assert_int_equal(btt_ledger_num_channels_of(F.l, fx_acct(u[0])), 102);
    assert_int_equal(btt_ledger_check_invariant(F.l, NULL), BTT_OK);
    fx_free(&F);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),      cmocka_unit_test(test_account), cmocka_unit_test(test_channel),
        cmocka_unit_test(test_channels),  cmocka_unit_test(test_receipt), cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_mutations), cmocka_unit_test(test_index),
    };
    return cmocka_run_group_tests(tests, setup_names, NULL);
}
