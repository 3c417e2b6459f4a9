/* Unit tests for ledger operations: canonical encoding (a pinned example), strict decoding of
 * every kind of malformed input, round trips of every type, signing and verifying. */
#include "fixture.h"

#include "btt/bencode.h"

static uint8_t ledger_id[32];
static btt_wallet *alice, *bob;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    for (int i = 0; i < 32; i++) ledger_id[i] = (uint8_t)(0x40 + i);
    alice = fx_wallet(0x11, 0);
    bob = fx_wallet(0x22, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    btt_wallet_free(alice);
    btt_wallet_free(bob);
    return 0;
}

static size_t encode(const btt_ledger_op *op, uint8_t *out)
{
    btt_buf b;
    btt_buf_init(&b, BTT_LEDGER_OP_MAX);
    assert_int_equal(btt_ledger_op_encode(op, &b), BTT_OK);
    size_t n = b.len;
    memcpy(out, b.data, n);
    btt_buf_free(&b);
    return n;
}

/* decode(encode(op)) encodes to the same bytes and keeps every field. */
static void round_trip(const btt_ledger_op *op)
{
    uint8_t a[BTT_LEDGER_OP_MAX], b[BTT_LEDGER_OP_MAX];
    size_t n = encode(op, a);
    btt_ledger_op d;
    btt_error err = {0};
    if (btt_ledger_op_decode(a, n, &d, &err) != BTT_OK) {
        print_error("decode: %s\n", err.msg);
        fail();
    }
    assert_int_equal(encode(&d, b), n);
    assert_memory_equal(a, b, n);
    assert_int_equal(d.type, op->type);
    assert_true(btt_account_eq(&d.signer, &op->signer));
    assert_int_equal(d.nonce, op->nonce);
    assert_memory_equal(d.sig, op->sig, 64);
    assert_int_equal(d.has_voucher, op->has_voucher);
    if (d.has_voucher) {
        assert_memory_equal(d.voucher.channel, op->channel, 32);
        assert_true(btt_amount_eq(d.voucher.cumulative, op->voucher.cumulative));
        assert_int_equal(d.voucher.seq, op->voucher.seq);
        assert_memory_equal(d.voucher.sig, op->voucher.sig, 64);
    }
    assert_true(btt_ledger_op_verify(&d, ledger_id) == btt_ledger_op_verify(op, ledger_id));
}

static void fill(btt_ledger_op *op, btt_ledger_op_type t)
{
    btt_ledger_op_init(op, t, fx_acct(alice), 7);
    op->to = *fx_acct(bob);
    op->amount = fx_units(123456789);
    op->expiry = 1700000000;
    memset(op->channel, 0xcc, 32);
    op->work = 99;
    if (t == BTT_LEDGER_CLAIM || t == BTT_LEDGER_CLOSE) {
        op->has_voucher = true;
        op->voucher.cumulative = fx_units(5000);
        op->voucher.seq = 3;
        memset(op->voucher.sig, 0x5a, 64);
    }
    /* fields the type does not use are not encoded: zero them so the round trip can compare */
    if (t != BTT_LEDGER_TRANSFER && t != BTT_LEDGER_OPEN) memset(&op->to, 0, sizeof op->to);
    if (t != BTT_LEDGER_TRANSFER && t != BTT_LEDGER_OPEN && t != BTT_LEDGER_TOPUP) op->amount = BTT_AMOUNT_ZERO;
    if (t != BTT_LEDGER_OPEN && t != BTT_LEDGER_TOPUP) op->expiry = 0;
    if (t == BTT_LEDGER_TRANSFER || t == BTT_LEDGER_FAUCET || t == BTT_LEDGER_OPEN) memset(op->channel, 0, 32);
    if (t != BTT_LEDGER_FAUCET) op->work = 0;
    assert_int_equal(btt_ledger_op_sign(op, ledger_id, alice), BTT_OK);
}

static void test_round_trip_all_types(void **state)
{
    (void)state;
    for (int t = BTT_LEDGER_TRANSFER; t <= BTT_LEDGER_REFUND; t++) {
        btt_ledger_op op;
        fill(&op, (btt_ledger_op_type)t);
        assert_true(btt_ledger_op_verify(&op, ledger_id));
        round_trip(&op);
    }
    btt_ledger_op op;
    fill(&op, BTT_LEDGER_CLOSE);
    op.has_voucher = false; /* the voucher is optional in a close */
    memset(&op.voucher, 0, sizeof op.voucher);
    assert_int_equal(btt_ledger_op_sign(&op, ledger_id, alice), BTT_OK);
    round_trip(&op);
    /* extremes */
    fill(&op, BTT_LEDGER_TRANSFER);
    op.nonce = (uint64_t)INT64_MAX;
    op.amount = BTT_AMOUNT_SUPPLY;
    assert_int_equal(btt_ledger_op_sign(&op, ledger_id, alice), BTT_OK);
    round_trip(&op);
    op.nonce = 0;
    op.amount = BTT_AMOUNT_ZERO;
    assert_int_equal(btt_ledger_op_sign(&op, ledger_id, alice), BTT_OK);
    round_trip(&op);
}

static void test_pinned_encoding(void **state)
{
    (void)state;
    btt_ledger_op op;
    btt_account from, to;
    memset(from.key, 'A', 32);
    memset(to.key, 'B', 32);
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, &from, 1);
    op.to = to;
    op.amount = fx_units(12500000);
    memset(op.sig, 'S', 64);
    uint8_t buf[BTT_LEDGER_OP_MAX];
    size_t n = encode(&op, buf);
    char want[600];
    snprintf(want, sizeof want, "d6:amounti12500000e5:noncei1e3:sig64:%.64s6:signer32:%.32s2:to32:%.32s4:type8:transfere",
             "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    /* the signed message: tag, ledger id, then the same dict without "sig" */
    uint8_t msg[BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN + BTT_LEDGER_OP_MAX];
    size_t m = btt_ledger_op_message(&op, ledger_id, msg);
    assert_memory_equal(msg, "btt-ledger-op-v1", 16);
    assert_memory_equal(msg + 16, ledger_id, 32);
    snprintf(want, sizeof want, "d6:amounti12500000e5:noncei1e6:signer32:%.32s2:to32:%.32s4:type8:transfere",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    assert_int_equal(m, 48 + strlen(want));
    assert_memory_equal(msg + 48, want, strlen(want));

    /* a claim, with its voucher dict */
    btt_ledger_op_init(&op, BTT_LEDGER_CLAIM, &from, 2);
    memset(op.channel, 'C', 32);
    op.has_voucher = true;
    op.voucher.cumulative = fx_units(7);
    op.voucher.seq = 3;
    memset(op.voucher.sig, 'V', 64);
    memset(op.sig, 'S', 64);
    n = encode(&op, buf);
    const char *prefix = "d7:channel32:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC5:noncei2e3:sig64:";
    assert_memory_equal(buf, prefix, strlen(prefix));
    const char *tail = "4:type5:claim7:voucherd6:amounti7e3:seqi3e3:sig64:VVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVee";
    assert_memory_equal(buf + n - strlen(tail), tail, strlen(tail));
}

static void decode_fails(const char *s, size_t n, const char *msg_part)
{
    btt_ledger_op op;
    memset(&op, 0x77, sizeof op);
    btt_error err = {0};
    btt_err rc = btt_ledger_op_decode((const uint8_t *)s, n, &op, &err);
    if (rc == BTT_OK || (msg_part && !strstr(err.msg, msg_part))) {
        print_error("%.*s: got %s '%s', want failure containing '%s'\n", (int)n, s, btt_err_name(rc), err.msg,
                    msg_part ? msg_part : "");
        fail();
    }
    assert_int_equal(op.nonce, 0x7777777777777777ull); /* untouched */
}

/* Builds a transfer dict with one field replaced (or removed, if value is NULL) or added. */
static size_t build(char *out, const char *replace_key, const char *value, const char *extra)
{
    const char *keys[] = {"amount", "nonce", "sig", "signer", "to", "type"};
    char vals[6][200];
    snprintf(vals[0], 200, "i5e");
    snprintf(vals[1], 200, "i1e");
    snprintf(vals[2], 200, "64:%064d", 0);
    snprintf(vals[3], 200, "32:%032d", 0);
    snprintf(vals[4], 200, "32:%032d", 1);
    snprintf(vals[5], 200, "8:transfer");
    size_t n = 0;
    n += (size_t)sprintf(out + n, "d");
    for (int i = 0; i < 6; i++) {
        if (extra && strcmp(extra, keys[i]) < 0 && (i == 0 || strcmp(extra, keys[i - 1]) > 0))
            n += (size_t)sprintf(out + n, "%zu:%si0e", strlen(extra), extra);
        const char *v = vals[i];
        if (replace_key && strcmp(replace_key, keys[i]) == 0) {
            if (!value) continue;
            v = value;
        }
        n += (size_t)sprintf(out + n, "%zu:%s%s", strlen(keys[i]), keys[i], v);
    }
    if (extra && strcmp(extra, "type") > 0) n += (size_t)sprintf(out + n, "%zu:%si0e", strlen(extra), extra);
    n += (size_t)sprintf(out + n, "e");
    return n;
}

static void test_strict_decoding(void **state)
{
    (void)state;
    char s[1024];
    size_t n = build(s, NULL, NULL, NULL);
    btt_ledger_op op;
    assert_int_equal(btt_ledger_op_decode((uint8_t *)s, n, &op, NULL), BTT_OK); /* the baseline is valid */
    assert_int_equal(btt_amount_units(op.amount), 5);

    n = build(s, "amount", NULL, NULL);
    decode_fails(s, n, "needs 'amount'");
    n = build(s, "sig", NULL, NULL);
    decode_fails(s, n, "needs 'sig'");
    n = build(s, "type", NULL, NULL);
    decode_fails(s, n, "type");
    n = build(s, "type", "7:payment", NULL);
    decode_fails(s, n, "unknown operation type");
    n = build(s, "type", "i1e", NULL);
    decode_fails(s, n, "type");
    n = build(s, NULL, NULL, "work"); /* a field of another type */
    decode_fails(s, n, "unexpected key 'work'");
    n = build(s, NULL, NULL, "zzz");
    decode_fails(s, n, "unexpected key 'zzz'");
    n = build(s, NULL, NULL, "memo");
    decode_fails(s, n, "unexpected key 'memo'");
    n = build(s, "amount", "i-1e", NULL);
    decode_fails(s, n, "amount");
    n = build(s, "amount", "i990000000000000001e", NULL);
    decode_fails(s, n, "within the supply");
    n = build(s, "amount", "i9223372036854775807e", NULL);
    decode_fails(s, n, "within the supply");
    n = build(s, "amount", "i18446744073709551615e", NULL); /* above INT64_MAX: the bencode layer refuses */
    decode_fails(s, n, NULL);
    n = build(s, "amount", "3:abc", NULL);
    decode_fails(s, n, "amount");
    n = build(s, "amount", "i05e", NULL); /* leading zero: not canonical */
    decode_fails(s, n, NULL);
    n = build(s, "amount", "i-0e", NULL);
    decode_fails(s, n, NULL);
    n = build(s, "nonce", "i-5e", NULL);
    decode_fails(s, n, "nonce");
    n = build(s, "sig", "63:000000000000000000000000000000000000000000000000000000000000000", NULL);
    decode_fails(s, n, "sig: must be a 64-byte string");
    n = build(s, "signer", "33:000000000000000000000000000000000", NULL);
    decode_fails(s, n, "signer: must be a 32-byte string");
    n = build(s, "to", "le", NULL);
    decode_fails(s, n, "to: must be a 32-byte string");

    /* unsorted keys, trailing bytes, not a dict, empty, nested too deep, too long */
    n = build(s, NULL, NULL, NULL);
    s[n] = 'x';
    decode_fails(s, n + 1, NULL);
    const char *unsorted = "d5:noncei1e6:amounti5e3:sig64:0000000000000000000000000000000000000000000000000000000000000000"
                           "6:signer32:000000000000000000000000000000002:to32:000000000000000000000000000000014:type8:transfere";
    decode_fails(unsorted, strlen(unsorted), NULL);
    decode_fails("le", 2, "must be a dict");
    decode_fails("", 0, NULL);
    decode_fails("de", 2, "type");
    n = build(s, "amount", "ddd1:ai1eeee", NULL);
    decode_fails(s, n, NULL);
    char big[BTT_LEDGER_OP_MAX + 64];
    memset(big, '0', sizeof big);
    decode_fails(big, sizeof big, NULL);
}

/* Binary-safe: the first off bytes of s, then the printf-formatted tail. Returns the length. */
static int splice(char *t, size_t cap, const void *s, size_t off, const char *fmt, ...)
{
    memcpy(t, s, off);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t + off, cap - off, fmt, ap);
    va_end(ap);
    return (int)off + n;
}

static void test_voucher_field_rules(void **state)
{
    (void)state;
    btt_ledger_op op;
    fill(&op, BTT_LEDGER_CLAIM);
    uint8_t buf[BTT_LEDGER_OP_MAX];
    size_t n = encode(&op, buf);
    char s[1024];
    memcpy(s, buf, n);
    /* claim without its voucher */
    char *v = memmem(s, n, "7:voucher", 9);
    assert_non_null(v);
    size_t off = (size_t)(v - s);
    char t[1024];
    memcpy(t, s, off);
    t[off] = 'e';
    decode_fails(t, off + 1, "needs 'voucher'");
    /* a voucher with an extra key */
    const char *sig64 = "3:sig64:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    int m = splice(t, sizeof t, s, off, "7:voucherd6:amounti1e3:seqi1e%s1:xi0eee", sig64);
    decode_fails(t, (size_t)m, "voucher");
    m = splice(t, sizeof t, s, off, "7:voucherd6:amounti1e3:seqi1eee");
    decode_fails(t, (size_t)m, "voucher");
    m = splice(t, sizeof t, s, off, "7:voucherd6:amounti1e3:seqi-1e%see", sig64);
    decode_fails(t, (size_t)m, "seq");
    m = splice(t, sizeof t, s, off, "7:voucherli1eee");
    decode_fails(t, (size_t)m, "voucher: must be a dict");
    m = splice(t, sizeof t, s, off, "7:voucherd6:amounti1e3:seqi1e%see", sig64);
    assert_int_equal(btt_ledger_op_decode((uint8_t *)t, (size_t)m, &op, NULL), BTT_OK); /* sanity */

    /* a voucher on a refund: unencodable, and not decodable */
    fill(&op, BTT_LEDGER_REFUND);
    op.has_voucher = true;
    btt_buf b;
    btt_buf_init(&b, 1024);
    assert_int_equal(btt_ledger_op_encode(&op, &b), BTT_EINVAL);
    assert_int_equal(btt_ledger_op_sign(&op, ledger_id, alice), BTT_EINVAL);
    btt_buf_free(&b);
    op.has_voucher = false;
    n = encode(&op, buf);
    m = splice(t, sizeof t, buf, n - 1, "7:voucherd6:amounti1e3:seqi1e%see", sig64);
    decode_fails(t, (size_t)m, "unexpected key 'voucher'");
    /* an invalid type cannot be encoded */
    op.type = (btt_ledger_op_type)0;
    btt_buf_init(&b, 1024);
    assert_int_equal(btt_ledger_op_encode(&op, &b), BTT_EINVAL);
    op.type = (btt_ledger_op_type)99;
    assert_int_equal(btt_ledger_op_encode(&op, &b), BTT_EINVAL);
    assert_string_equal(btt_ledger_op_type_name(op.type), "?");
    btt_buf_free(&b);
}

static void test_sign_verify_and_id(void **state)
{
    (void)state;
    btt_ledger_op op;
    fill(&op, BTT_LEDGER_OPEN);
    assert_true(btt_ledger_op_verify(&op, ledger_id));
    uint8_t other[32];
    memcpy(other, ledger_id, 32);
    other[31] ^= 1;
    assert_false(btt_ledger_op_verify(&op, other));
    btt_ledger_op t = op;
    t.expiry++;
    assert_false(btt_ledger_op_verify(&t, ledger_id));
    t = op;
    t.signer = *fx_acct(bob);
    assert_false(btt_ledger_op_verify(&t, ledger_id));
    t = op;
    t.type = BTT_LEDGER_TRANSFER; /* same fields minus expiry: a different message */
    assert_false(btt_ledger_op_verify(&t, ledger_id));

    uint8_t id1[32], id2[32], id3[32];
    assert_int_equal(btt_ledger_op_id(&op, ledger_id, id1), BTT_OK);
    assert_int_equal(btt_ledger_op_id(&op, ledger_id, id2), BTT_OK);
    assert_memory_equal(id1, id2, 32);
    assert_int_equal(btt_ledger_op_id(&op, other, id3), BTT_OK);
    assert_memory_not_equal(id1, id3, 32);
    t = op;
    t.nonce++;
    assert_int_equal(btt_ledger_op_id(&t, ledger_id, id3), BTT_OK);
    assert_memory_not_equal(id1, id3, 32);
    /* sign sets the signer from the wallet */
    btt_ledger_op_init(&t, BTT_LEDGER_REFUND, NULL, 1);
    assert_int_equal(btt_ledger_op_sign(&t, ledger_id, bob), BTT_OK);
    assert_true(btt_account_eq(&t.signer, fx_acct(bob)));
    assert_true(btt_ledger_op_verify(&t, ledger_id));
}

static void test_random_round_trips(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        btt_ledger_op op;
        btt_ledger_op_type t = (btt_ledger_op_type)(1 + randombytes_uniform(7));
        fill(&op, t);
        randombytes_buf(op.signer.key, 32);
        op.nonce = randombytes_random() | ((uint64_t)randombytes_random() << 31);
        if (t == BTT_LEDGER_TRANSFER || t == BTT_LEDGER_OPEN || t == BTT_LEDGER_TOPUP)
            op.amount = fx_units(((uint64_t)randombytes_random() << 32 | randombytes_random()) % (BTT_SUPPLY_UNITS + 1));
        if (t == BTT_LEDGER_FAUCET) op.work = (uint64_t)randombytes_random() << 30;
        if (t == BTT_LEDGER_CLOSE && (i & 1)) {
            op.has_voucher = false;
            memset(&op.voucher, 0, sizeof op.voucher);
        }
        randombytes_buf(op.sig, 64);
        round_trip(&op);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_types),   cmocka_unit_test(test_pinned_encoding),
        cmocka_unit_test(test_strict_decoding),        cmocka_unit_test(test_voucher_field_rules),
        cmocka_unit_test(test_sign_verify_and_id),     cmocka_unit_test(test_random_round_trips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
