/* Unit tests for the BitTorrent Speed message codec (btt/speed_msg.h, docs/speed-protocol.md 2-3):
 * every message type round-trips through its canonical bytes (checked against hand-written
 * bencoding), malformed payloads are refused, unknown types and keys are tolerated, and the
 * proof of possession binds ledger, info-hash, challenge and key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "btt/speed_msg.h"

static void fill(void *p, size_t n, uint8_t c) { memset(p, c, n); }

/* Builds m, compares with the expected bytes, parses them back and compares the struct. */
static void round_trip(const btt_speed_msg *m, const char *expect, size_t expect_len)
{
    btt_buf b;
    btt_buf_init(&b, BTT_SPEED_MSG_MAX);
    assert_int_equal(btt_speed_msg_build(&b, m), BTT_OK);
    if (b.len != expect_len || memcmp(b.data, expect, expect_len)) {
        print_error("built: %.*s\nwant:  %.*s\n", (int)b.len, (const char *)b.data, (int)expect_len, expect);
        fail();
    }
    btt_speed_msg back;
    btt_error err = {0};
    assert_int_equal(btt_speed_msg_parse(b.data, b.len, &back, &err), BTT_OK);
    assert_memory_equal(&back, m, sizeof back);
    btt_buf_free(&b);
}

#define S(lit) lit, sizeof(lit) - 1
#define K32 "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"
#define S64 K32 K32

static btt_speed_msg blank(btt_speed_type t)
{
    btt_speed_msg m;
    memset(&m, 0, sizeof m);
    m.type = t;
    return m;
}

static void test_round_trips(void **state)
{
    (void)state;
    btt_speed_msg m = blank(BTT_SPEED_POP);
    fill(m.sig, sizeof m.sig, 'K');
    round_trip(&m, S("d3:sig64:" S64 "1:t3:pope"));

    m = blank(BTT_SPEED_RESERVE);
    m.rate = 12, m.piece = 7, m.chunk = 3;
    round_trip(&m, S("d5:chunki3e5:piecei7e5:pricei12e1:t7:reservee"));

    m = blank(BTT_SPEED_PROOF);
    m.piece = 4294967295u, m.chunk = 0;
    fill(m.hash, sizeof m.hash, 'H');
    round_trip(&m, S("d5:chunki0e4:hash20:HHHHHHHHHHHHHHHHHHHH5:piecei4294967295e1:t5:proofe"));

    m = blank(BTT_SPEED_BID);
    m.rate = INT64_MAX;
    round_trip(&m, S("d4:ratei9223372036854775807e1:t3:bide"));

    m = blank(BTT_SPEED_BID_RESPONSE);
    m.rate = 200, m.lock = BTT_AMOUNT_UNITS(1000), m.expiry = 3600;
    fill(m.payee.key, sizeof m.payee.key, 'K');
    round_trip(&m, S("d6:expiryi3600e4:locki1000e5:payee32:" K32 "4:ratei200e1:t12:bid_responsee"));

    m = blank(BTT_SPEED_CHANNEL);
    fill(m.voucher.channel, 32, 'K');
    round_trip(&m, S("d2:id32:" K32 "1:t7:channele"));

    m = blank(BTT_SPEED_PAY);
    fill(m.voucher.channel, 32, 'K');
    fill(m.voucher.sig, 64, 'K');
    m.voucher.cumulative = BTT_AMOUNT_SUPPLY, m.voucher.seq = 2, m.piece = 9;
    round_trip(&m, S("d6:amounti990000000000000000e2:id32:" K32 "5:piecei9e3:seqi2e3:sig64:" S64 "1:t3:paye"));

    m = blank(BTT_SPEED_REFUSE);
    snprintf(m.code, sizeof m.code, "unpaid");
    round_trip(&m, S("d4:code6:unpaid1:t6:refusee"));
    snprintf(m.text, sizeof m.text, "pay please");
    round_trip(&m, S("d4:code6:unpaid3:msg10:pay please1:t6:refusee"));
    /* a refusal naming the channel it is about */
    snprintf(m.code, sizeof m.code, "bad-channel");
    memset(m.text, 0, sizeof m.text);
    fill(m.voucher.channel, 32, 'K');
    m.has_channel = true;
    round_trip(&m, S("d4:code11:bad-channel2:id32:" K32 "1:t6:refusee"));
}

static void expect_malformed(const char *p, size_t n)
{
    btt_speed_msg m;
    btt_error err = {0};
    if (btt_speed_msg_parse((const uint8_t *)p, n, &m, &err) != BTT_EPROTO) {
        print_error("accepted: %.*s\n", (int)n, p);
        fail();
    }
    assert_int_equal(err.code, BTT_EPROTO);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(m.type, BTT_SPEED_UNKNOWN); /* nothing half-filled */
}

static void test_malformed(void **state)
{
    (void)state;
    expect_malformed(S(""));
    expect_malformed(S("le"));
    expect_malformed(S("i1e"));
    expect_malformed(S("d4:ratei1ee"));                     /* no "t" */
    expect_malformed(S("d1:ti3ee"));                        /* "t" not a string */
    expect_malformed(S("d1:t3:bide"));                      /* bid without rate */
    expect_malformed(S("d4:ratei-1e1:t3:bide"));            /* negative */
    expect_malformed(S("d4:rate1:11:t3:bide"));             /* mistyped */
    expect_malformed(S("d4:ratei1e1:t3:bidee"));            /* trailing byte */
    expect_malformed(S("d1:t3:bid4:ratei1ee"));             /* keys out of order */
    expect_malformed(S("d4:ratei01e1:t3:bide"));            /* leading zero */
    expect_malformed(S("d3:sig63:" K32 "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK" "1:t3:pope")); /* short sig */
    expect_malformed(S("d5:chunki0e4:hash20:HHHHHHHHHHHHHHHHHHHH5:piecei4294967296e1:t5:proofe"));
    expect_malformed(S("d6:amounti990000000000000001e2:id32:" K32 "5:piecei9e3:seqi2e3:sig64:" S64 "1:t3:paye"));
    expect_malformed(S("d6:amounti1e2:id32:" K32 "5:piecei9e3:seqi0e3:sig64:" S64 "1:t3:paye")); /* seq 0 */
    expect_malformed(S("d6:amounti1e2:id32:" K32 "3:seqi1e3:sig64:" S64 "1:t3:paye"));          /* no piece */
    expect_malformed(S("d6:expiryi1e4:locki1e5:payee31:" "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK" "4:ratei1e1:t12:bid_responsee"));
    expect_malformed(S("d4:code0:1:t6:refusee"));           /* empty code */
    expect_malformed(S("d4:code3:a b1:t6:refusee"));        /* space in code */
    expect_malformed(S("d4:code1:x3:msg2:\x01\x02" "1:t6:refusee")); /* control bytes */
    expect_malformed(S("d4:code32:" K32 "1:t6:refusee"));   /* code too long */
    expect_malformed(S("d4:code1:x2:id3:abc1:t6:refusee"));  /* channel id of the wrong length */
    expect_malformed(S("d4:code1:x2:idi7e1:t6:refusee"));    /* channel id not a string */
    /* more than 1024 bytes, even if well-formed */
    char big[1100];
    int n = snprintf(big, sizeof big, "d1:xi0e1:y1000:");
    memset(big + n, 'a', 1000);
    n += 1000;
    n += snprintf(big + n, sizeof big - (size_t)n, "1:t3:bide");
    expect_malformed(big, (size_t)n);
}

static void test_unknown_is_tolerated(void **state)
{
    (void)state;
    btt_speed_msg m;
    btt_error err = {0};
    assert_int_equal(btt_speed_msg_parse((const uint8_t *)S("d3:fooi1e1:t6:futuree"), &m, &err), BTT_OK);
    assert_int_equal(m.type, BTT_SPEED_UNKNOWN);
    /* an unknown key in a known type is ignored, and building drops it */
    assert_int_equal(btt_speed_msg_parse((const uint8_t *)S("d5:extrai5e4:ratei77e1:t3:bide"), &m, &err), BTT_OK);
    assert_int_equal(m.type, BTT_SPEED_BID);
    assert_int_equal(m.rate, 77);
    btt_buf b;
    btt_buf_init(&b, 256);
    assert_int_equal(btt_speed_msg_build(&b, &m), BTT_OK);
    assert_int_equal(b.len, sizeof("d4:ratei77e1:t3:bide") - 1);
    btt_buf_free(&b);
    /* unknown types and bad values cannot be built */
    btt_buf_init(&b, 256);
    m = blank(BTT_SPEED_UNKNOWN);
    assert_int_equal(btt_speed_msg_build(&b, &m), BTT_EINVAL);
    m = blank(BTT_SPEED_PAY);
    assert_int_equal(btt_speed_msg_build(&b, &m), BTT_EINVAL); /* seq 0 */
    m = blank(BTT_SPEED_BID);
    m.rate = (uint64_t)INT64_MAX + 1;
    assert_int_equal(btt_speed_msg_build(&b, &m), BTT_EINVAL);
    m = blank(BTT_SPEED_REFUSE);
    assert_int_equal(btt_speed_msg_build(&b, &m), BTT_EINVAL); /* empty code */
    assert_int_equal(b.len, 0);
    btt_buf_free(&b);
    assert_string_equal(btt_speed_type_name(BTT_SPEED_BID_RESPONSE), "bid_response");
    assert_string_equal(btt_speed_type_name((btt_speed_type)99), "unknown");
}

static btt_err parse_hello(const char *p, size_t n, btt_speed_hello *h)
{
    btt_ben_doc *doc;
    assert_int_equal(btt_ben_decode((const uint8_t *)p, n, 0, NULL, &doc, NULL), BTT_OK);
    btt_error err = {0};
    btt_err e = btt_speed_hello_parse(btt_ben_root(doc), h, &err);
    btt_ben_free(doc);
    return e;
}

static void test_hello(void **state)
{
    (void)state;
    btt_speed_hello h;
    memset(&h, 0, sizeof h);
    fill(h.pk.key, 32, 'P');
    fill(h.ledger, 32, 'L');
    fill(h.ch, 16, 'C');
    snprintf(h.url, sizeof h.url, "http://127.0.0.1:8480");
    btt_buf b;
    btt_buf_init(&b, 1024);
    assert_int_equal(btt_speed_hello_build(&b, &h), BTT_OK);
    const char want[] = "d2:ch16:CCCCCCCCCCCCCCCC6:ledger32:LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
                        "2:pk32:PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP3:url21:http://127.0.0.1:84801:vi1ee";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    btt_speed_hello back;
    assert_int_equal(parse_hello((const char *)b.data, b.len, &back), BTT_OK);
    assert_memory_equal(&back, &h, sizeof h);
    btt_buf_free(&b);

    /* version 2, missing or short fields, a non-dict: the peer is legacy */
    assert_int_equal(parse_hello(S("d2:ch16:CCCCCCCCCCCCCCCC6:ledger32:" K32 "2:pk32:" K32 "1:vi2ee"), &back), BTT_EPROTO);
    assert_int_equal(parse_hello(S("d6:ledger32:" K32 "2:pk32:" K32 "1:vi1ee"), &back), BTT_EPROTO);
    assert_int_equal(parse_hello(S("d2:ch15:CCCCCCCCCCCCCCC6:ledger32:" K32 "2:pk32:" K32 "1:vi1ee"), &back), BTT_EPROTO);
    assert_int_equal(parse_hello(S("d2:ch16:CCCCCCCCCCCCCCCC6:ledger32:" K32 "2:pk32:" K32 "3:urli1e1:vi1ee"), &back), BTT_EPROTO);
    assert_int_equal(parse_hello(S("li1ee"), &back), BTT_EPROTO);
    /* without url, with an unknown key */
    assert_int_equal(parse_hello(S("d2:ch16:CCCCCCCCCCCCCCCC6:ledger32:" K32 "2:pk32:" K32 "1:vi1e1:xi5ee"), &back), BTT_OK);
    assert_string_equal(back.url, "");
}

static void test_pop(void **state)
{
    (void)state;
    btt_wallet *w, *other;
    assert_int_equal(btt_wallet_generate(&w, NULL), BTT_OK);
    assert_int_equal(btt_wallet_generate(&other, NULL), BTT_OK);
    uint8_t ledger[32], ih[20], ch[16], sig[64];
    randombytes_buf(ledger, sizeof ledger);
    randombytes_buf(ih, sizeof ih);
    randombytes_buf(ch, sizeof ch);
    uint8_t msg[BTT_SPEED_POP_MSG_LEN];
    btt_speed_pop_message(ledger, ih, ch, btt_wallet_account(w), msg);
    assert_memory_equal(msg, "btt-speed-pop-v1", 16);
    assert_memory_equal(msg + 16, ledger, 32);
    assert_memory_equal(msg + 48, ih, 20);
    assert_memory_equal(msg + 68, ch, 16);
    assert_memory_equal(msg + 84, btt_wallet_account(w)->key, 32);

    btt_speed_pop_sign(w, ledger, ih, ch, sig);
    assert_true(btt_speed_pop_verify(btt_wallet_account(w), ledger, ih, ch, sig));
    assert_false(btt_speed_pop_verify(btt_wallet_account(other), ledger, ih, ch, sig)); /* another key */
    uint8_t x[32];
    memcpy(x, ledger, 32), x[0] ^= 1;
    assert_false(btt_speed_pop_verify(btt_wallet_account(w), x, ih, ch, sig)); /* another ledger */
    memcpy(x, ih, 20), x[19] ^= 1;
    assert_false(btt_speed_pop_verify(btt_wallet_account(w), ledger, x, ch, sig)); /* another swarm */
    memcpy(x, ch, 16), x[5] ^= 1;
    assert_false(btt_speed_pop_verify(btt_wallet_account(w), ledger, ih, x, sig)); /* an old challenge */
    sig[0] ^= 1;
    assert_false(btt_speed_pop_verify(btt_wallet_account(w), ledger, ih, ch, sig));
    btt_wallet_free(w);
    btt_wallet_free(other);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),  cmocka_unit_test(test_malformed), cmocka_unit_test(test_unknown_is_tolerated),
        cmocka_unit_test(test_hello), cmocka_unit_test(test_pop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
