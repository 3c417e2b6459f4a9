/* Unit tests for the KRPC codec: BEP 5's example messages decode to the right fields and
 * encode back to the same bytes; BEP 32/42/43 fields round trip; malformed and oversized
 * messages are refused with the right code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/dht.h"

#define S(lit) ((const uint8_t *)(lit)), (sizeof(lit) - 1)

static btt_krpc_msg m;

static void decode_ok(const uint8_t *p, size_t len)
{
    btt_error err;
    btt_err e = btt_krpc_decode(p, len, &m, &err);
    if (e) fail_msg("decode: %s", err.msg);
}

/* decode, encode: the same bytes */
static void same_bytes(const uint8_t *p, size_t len)
{
    decode_ok(p, len);
    btt_buf b;
    btt_buf_init(&b, 4096);
    assert_int_equal(btt_krpc_encode(&b, &m), BTT_OK);
    if (b.len != len || memcmp(b.data, p, len) != 0)
        fail_msg("re-encoded differs:\n  in  %.*s\n  out %.*s", (int)len, (const char *)p, (int)b.len, (const char *)b.data);
    btt_buf_free(&b);
}

static btt_err decode_err(const uint8_t *p, size_t len)
{
    btt_krpc_msg x;
    btt_error err;
    btt_err e = btt_krpc_decode(p, len, &x, &err);
    if (e == BTT_OK) fail_msg("accepted: %.*s", (int)len, (const char *)p);
    assert_int_equal(err.code, e);
    /* nothing half-decoded is left behind */
    static const btt_krpc_msg zero;
    assert_memory_equal(&x, &zero, sizeof x);
    return e;
}

/* ------------------------------------------------------------------ BEP 5's examples */

static void test_ping(void **state)
{
    same_bytes(S("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"));
    assert_int_equal(m.kind, BTT_KRPC_QUERY);
    assert_int_equal(m.method, BTT_KRPC_PING);
    assert_int_equal(m.tid_len, 2);
    assert_memory_equal(m.tid, "aa", 2);
    assert_memory_equal(m.id, "abcdefghij0123456789", 20);
    assert_false(m.ro);

    same_bytes(S("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"));
    assert_int_equal(m.kind, BTT_KRPC_RESPONSE);
    assert_int_equal(m.method, BTT_KRPC_NONE);
    assert_memory_equal(m.id, "mnopqrstuvwxyz123456", 20);
    assert_int_equal(m.num_nodes, 0);
    assert_false(m.has_token);
}

static void test_find_node(void **state)
{
    same_bytes(S("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe"));
    assert_int_equal(m.method, BTT_KRPC_FIND_NODE);
    assert_memory_equal(m.target, "mnopqrstuvwxyz123456", 20);
    assert_int_equal(m.want, 0);

    /* the spec's reply has "def456..." as a placeholder; a real one carries 26-byte records */
    same_bytes(S("d1:rd2:id20:0123456789abcdefghij5:nodes52:"
                 "AAAAAAAAAAAAAAAAAAAA\x7f\x00\x00\x01\x1a\xe1"
                 "BBBBBBBBBBBBBBBBBBBB\x0a\x00\x00\x02\x00\x50" "e1:t2:aa1:y1:re"));
    assert_int_equal(m.num_nodes, 2);
    assert_memory_equal(m.nodes[0].id, "AAAAAAAAAAAAAAAAAAAA", 20);
    assert_int_equal(m.nodes[0].addr.family, 4);
    assert_memory_equal(m.nodes[0].addr.ip, "\x7f\x00\x00\x01", 4);
    assert_int_equal(m.nodes[0].addr.port, 6881);
    assert_int_equal(m.nodes[1].addr.port, 80);

    assert_int_equal(decode_err(S("d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re")), BTT_EPROTO);
}

static void test_get_peers(void **state)
{
    same_bytes(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"));
    assert_int_equal(m.method, BTT_KRPC_GET_PEERS);
    assert_memory_equal(m.target, "mnopqrstuvwxyz123456", 20);

    same_bytes(S("d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"));
    assert_true(m.has_token);
    assert_int_equal(m.token_len, 8);
    assert_memory_equal(m.token, "aoeusnth", 8);
    assert_int_equal(m.num_values, 2);
    assert_int_equal(m.values[0].family, 4);
    assert_memory_equal(m.values[0].ip, "axje", 4);
    assert_int_equal(m.values[0].port, ('.' << 8) | 'u');
    assert_memory_equal(m.values[1].ip, "idht", 4);
}

static void test_announce_peer(void **state)
{
    same_bytes(S("d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e"
                 "5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"));
    assert_int_equal(m.method, BTT_KRPC_ANNOUNCE_PEER);
    assert_true(m.implied_port);
    assert_int_equal(m.port, 6881);
    assert_memory_equal(m.token, "aoeusnth", 8);
    assert_memory_equal(m.target, "mnopqrstuvwxyz123456", 20);

    same_bytes(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e"
                 "5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"));
    assert_false(m.implied_port);

    /* implied_port lets port be 0; without it port 0 is refused */
    decode_ok(S("d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti0e"
                "5:token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe"));
    decode_err(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e"
                 "5:token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe"));
}

static void test_error(void **state)
{
    same_bytes(S("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"));
    assert_int_equal(m.kind, BTT_KRPC_ERROR);
    assert_int_equal(m.error_code, 201);
    assert_string_equal(m.error_msg, "A Generic Error Ocurred");
}

static void test_unknown_method(void **state)
{
    decode_ok(S("d1:ad2:id20:abcdefghij0123456789e1:q3:put1:t2:aa1:y1:qe"));
    assert_int_equal(m.kind, BTT_KRPC_QUERY);
    assert_int_equal(m.method, BTT_KRPC_UNKNOWN);
    btt_buf b;
    btt_buf_init(&b, 4096);
    assert_int_equal(btt_krpc_encode(&b, &m), BTT_EINVAL); /* we never send what we do not know */
    assert_int_equal(b.len, 0);
    btt_buf_free(&b);
}

/* ------------------------------------------------------------------ BEP 32, 42, 43 */

static void test_ipv6_and_extensions(void **state)
{
    /* get_peers with want n4 n6 from a read-only node (BEP 43 "ro" at the top level) */
    same_bytes(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee"
                 "1:q9:get_peers2:roi1e1:t2:aa1:y1:qe"));
    assert_true(m.ro);
    assert_int_equal(m.want, BTT_KRPC_WANT_N4 | BTT_KRPC_WANT_N6);

    /* a reply with nodes6 and an IPv6 value, and the querier's address (BEP 42 "ip") */
    same_bytes(S("d2:ip6:\x0a\x00\x00\x07\x1a\xe1"
                 "1:rd2:id20:abcdefghij01234567896:nodes638:CCCCCCCCCCCCCCCCCCCC"
                 "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"
                 "5:token2:tk6:valuesl18:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x1a\xe3" "ee"
                 "1:t2:aa1:y1:re"));
    assert_true(m.has_ip);
    assert_int_equal(m.ip.family, 4);
    assert_int_equal(m.ip.port, 6881);
    assert_int_equal(m.num_nodes6, 1);
    assert_int_equal(m.nodes6[0].addr.family, 6);
    assert_int_equal(m.nodes6[0].addr.port, 6882);
    assert_int_equal(m.num_values, 1);
    assert_int_equal(m.values[0].family, 6);
    assert_int_equal(m.values[0].port, 6883);

    /* unknown keys are ignored; a want of other families too */
    decode_ok(S("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n9e1:zi5ee"
                "1:q9:find_node1:t2:aa1:vl3:xyze1:y1:qe"));
    assert_int_equal(m.want, 0);
}

/* ------------------------------------------------------------------ encoder from fields */

static void test_encode_fields(void **state)
{
    btt_krpc_msg q;
    memset(&q, 0, sizeof q);
    q.kind = BTT_KRPC_RESPONSE;
    q.tid_len = 4;
    memcpy(q.tid, "\x00\x01\xab\xcd", 4);
    memset(q.id, 0x11, 20);
    q.num_nodes = BTT_KRPC_MAX_NODES;
    for (int i = 0; i < BTT_KRPC_MAX_NODES; i++) {
        memset(q.nodes[i].id, i, 20);
        q.nodes[i].addr.family = 4;
        q.nodes[i].addr.ip[0] = 10;
        q.nodes[i].addr.ip[3] = (uint8_t)i;
        q.nodes[i].addr.port = (uint16_t)(1000 + i);
    }
    q.num_values = BTT_KRPC_MAX_VALUES;
    for (int i = 0; i < BTT_KRPC_MAX_VALUES; i++) {
        q.values[i].family = 4;
        q.values[i].ip[3] = (uint8_t)i;
        q.values[i].port = (uint16_t)(2000 + i);
    }
    btt_buf b;
    btt_buf_init(&b, 8192);
    assert_int_equal(btt_krpc_encode(&b, &q), BTT_OK);
    decode_ok(b.data, b.len);
    assert_int_equal(m.num_nodes, BTT_KRPC_MAX_NODES);
    assert_int_equal(m.num_values, BTT_KRPC_MAX_VALUES);
    assert_int_equal(m.nodes[31].addr.port, 1031);
    assert_int_equal(m.values[127].port, 2127);
    assert_memory_equal(m.tid, q.tid, 4);

    /* one more is refused, and by the encoder too */
    btt_buf_reset(&b);
    q.num_values = BTT_KRPC_MAX_VALUES + 1;
    assert_int_equal(btt_krpc_encode(&b, &q), BTT_EINVAL);
    /* a node of the wrong family under nodes */
    q.num_values = 0;
    q.nodes[3].addr.family = 6;
    assert_int_equal(btt_krpc_encode(&b, &q), BTT_EINVAL);
    assert_int_equal(b.len, 0);
    q.nodes[3].addr.family = 4;
    q.tid_len = 0;
    assert_int_equal(btt_krpc_encode(&b, &q), BTT_EINVAL);
    btt_buf_free(&b);
}

/* ------------------------------------------------------------------ hostile input */

static void test_truncated(void **state)
{
    static const char *msgs[] = {
        "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e"
        "5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
        "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
    };
    for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
        size_t len = strlen(msgs[i]);
        for (size_t k = 0; k < len; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, msgs[i], k);
            decode_err(cut, k);
            free(cut);
        }
    }
}

static void test_wrong_types(void **state)
{
    static const char *bad[] = {
        "le",                                                                  /* not a dict */
        "i5e",
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:ti5e1:y1:qe",            /* t not a string */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t0:1:y1:qe",             /* empty t */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:xe",           /* y not q/r/e */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y2:qqe",
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aae",                 /* no y */
        "d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe",            /* short id */
        "d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe",                               /* id an int */
        "d1:ali5ee1:q4:ping1:t2:aa1:y1:qe",                                   /* a a list */
        "d1:ad2:id20:abcdefghij0123456789e1:qi1e1:t2:aa1:y1:qe",              /* q an int */
        "d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe",      /* no target */
        "d1:ad2:id20:abcdefghij01234567896:target3:abce1:q9:find_node1:t2:aa1:y1:qe",
        "d1:ad2:id20:abcdefghij01234567894:wanti1ee1:q9:get_peers1:t2:aa1:y1:qe",
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token2:xxe"
        "1:q13:announce_peer1:t2:aa1:y1:qe",                                  /* port out of range */
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti-1e5:token2:xxe"
        "1:q13:announce_peer1:t2:aa1:y1:qe",
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1e5:token0:e"
        "1:q13:announce_peer1:t2:aa1:y1:qe",                                  /* empty token */
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1ee"
        "1:q13:announce_peer1:t2:aa1:y1:qe",                                  /* no token */
        "d1:ad2:id20:abcdefghij012345678912:implied_porti2e9:info_hash20:mnopqrstuvwxyz1234564:porti1e5:token1:xe"
        "1:q13:announce_peer1:t2:aa1:y1:qe",
        "d1:rd2:id20:abcdefghij01234567895:nodes25:AAAAAAAAAAAAAAAAAAAAAAAAAe1:t2:aa1:y1:re",
        "d1:rd2:id20:abcdefghij01234567896:nodes6i1ee1:t2:aa1:y1:re",
        "d1:rd2:id20:abcdefghij01234567896:valuesl5:abcdee1:t2:aa1:y1:re",      /* 5-byte value */
        "d1:rd2:id20:abcdefghij01234567896:valuesli1eee1:t2:aa1:y1:re",
        "d1:rd2:id20:abcdefghij01234567896:values6:abcdefe1:t2:aa1:y1:re",
        "d1:rd2:id20:abcdefghij01234567895:tokeni1ee1:t2:aa1:y1:re",
        "d1:rl2:ide1:t2:aa1:y1:re",
        "d1:rd2:id20:abcdefghij0123456e1:t2:aa1:y1:re2:ro",
        "d1:eli201ee1:t2:aa1:y1:ee",                                           /* error without message */
        "d1:el3:abc3:defe1:t2:aa1:y1:ee",
        "d1:e3:abc1:t2:aa1:y1:ee",
        "d2:ip5:abcde1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re",         /* ip not 6/18 */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi2e1:t2:aa1:y1:qe",     /* ro not 0/1 */
        "d1:t2:aa1:y1:q1:ad2:id20:abcdefghij0123456789e1:q4:pinge",           /* unsorted keys */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qee",          /* trailing byte */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe1:ad2:id20:abcdefghij0123456789e",
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t02:aa1:y1:qe",          /* leading zero */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        btt_err e = decode_err((const uint8_t *)bad[i], strlen(bad[i]));
        if (e != BTT_EPROTO) fail_msg("case %zu: %s", i, btt_err_name(e));
    }
}

static void test_oversized(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 1u << 20);
    /* a transaction id of 17 bytes */
    assert_int_equal(decode_err(S("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t17:aaaaaaaaaaaaaaaaa1:y1:qe")),
                     BTT_ETOOBIG);
    /* a token of 33 bytes */
    assert_int_equal(decode_err(S("d1:rd2:id20:abcdefghij01234567895:token33:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaae"
                                  "1:t2:aa1:y1:re")),
                     BTT_ETOOBIG);
    /* 33 nodes */
    assert_int_equal(btt_buf_printf(&b, "d1:rd2:id20:abcdefghij01234567895:nodes%d:", 33 * 26), BTT_OK);
    for (int i = 0; i < 33 * 26; i++) assert_int_equal(btt_buf_append_byte(&b, 'n'), BTT_OK);
    assert_int_equal(btt_buf_printf(&b, "e1:t2:aa1:y1:re"), BTT_OK);
    assert_int_equal(decode_err(b.data, b.len), BTT_ETOOBIG);
    /* 129 values */
    btt_buf_reset(&b);
    assert_int_equal(btt_buf_printf(&b, "d1:rd2:id20:abcdefghij01234567896:valuesl"), BTT_OK);
    for (int i = 0; i < 129; i++) assert_int_equal(btt_buf_printf(&b, "6:abcdef"), BTT_OK);
    assert_int_equal(btt_buf_printf(&b, "ee1:t2:aa1:y1:re"), BTT_OK);
    assert_int_equal(decode_err(b.data, b.len), BTT_ETOOBIG);
    /* a huge list of empty strings under an unknown key: the value count limit */
    btt_buf_reset(&b);
    assert_int_equal(btt_buf_printf(&b, "d1:ad2:id20:abcdefghij01234567891:xl"), BTT_OK);
    for (int i = 0; i < 2040; i++) assert_int_equal(btt_buf_printf(&b, "0:"), BTT_OK);
    assert_int_equal(btt_buf_printf(&b, "ee1:q4:ping1:t2:aa1:y1:qe"), BTT_OK);
    assert_int_equal(decode_err(b.data, b.len), BTT_ETOOBIG);
    /* more than 4096 bytes */
    btt_buf_reset(&b);
    assert_int_equal(btt_buf_printf(&b, "d1:ad2:id20:abcdefghij01234567891:x4100:"), BTT_OK);
    for (int i = 0; i < 4100; i++) assert_int_equal(btt_buf_append_byte(&b, 'x'), BTT_OK);
    assert_int_equal(btt_buf_printf(&b, "e1:q4:ping1:t2:aa1:y1:qe"), BTT_OK);
    assert_int_equal(decode_err(b.data, b.len), BTT_ETOOBIG);
    /* nesting deeper than 8 */
    btt_buf_reset(&b);
    assert_int_equal(btt_buf_printf(&b, "d1:ad2:id20:abcdefghij01234567891:xllllllllleeeeeeeeee1:q4:ping1:t2:aa1:y1:qe"),
                     BTT_OK);
    decode_err(b.data, b.len);
    btt_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_find_node),
        cmocka_unit_test(test_get_peers),
        cmocka_unit_test(test_announce_peer),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_ipv6_and_extensions),
        cmocka_unit_test(test_encode_fields),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_oversized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
