/* Unit tests for printable account names: format/parse round trip, checksum catching typos,
 * and every kind of malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "btt/account.h"
#include "btt/wallet.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static void seq_key(btt_account *a)
{
    for (int i = 0; i < BTT_ACCOUNT_KEY_LEN; i++) a->key[i] = (uint8_t)i;
}

static void expect_fail(const char *s, const char *msg_part)
{
    btt_account a;
    memset(&a, 0xAA, sizeof a);
    btt_error err = {0};
    btt_err rc = btt_account_parse_cstr(s, &a, &err);
    if (rc != BTT_EINVAL || !strstr(err.msg, msg_part)) {
        print_error("'%s': got %s '%s', want EINVAL containing '%s'\n", s, btt_err_name(rc), err.msg, msg_part);
        fail();
    }
    for (int i = 0; i < BTT_ACCOUNT_KEY_LEN; i++) assert_int_equal(a.key[i], 0xAA);
}

static void test_known_vector(void **state)
{
    (void)state;
    btt_account a, b;
    seq_key(&a);
    char s[BTT_ACCOUNT_STR_LEN + 1];
    btt_account_format(&a, s);
    /* pinned: the printable form is a stable, user-visible format */
    assert_string_equal(s, "btt1aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypzi4vivq");
    assert_int_equal(strlen(s), BTT_ACCOUNT_STR_LEN);
    assert_int_equal(btt_account_parse_cstr(s, &b, NULL), BTT_OK);
    assert_true(btt_account_eq(&a, &b));
}

static void test_round_trip_random(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        btt_account a, b;
        randombytes_buf(a.key, sizeof a.key);
        char s[BTT_ACCOUNT_STR_LEN + 1];
        btt_account_format(&a, s);
        assert_int_equal(strlen(s), BTT_ACCOUNT_STR_LEN);
        assert_memory_equal(s, "btt1", 4);
        for (int k = 4; k < BTT_ACCOUNT_STR_LEN; k++) assert_non_null(strchr(alphabet, s[k]));
        assert_int_equal(btt_account_parse_cstr(s, &b, NULL), BTT_OK);
        assert_true(btt_account_eq(&a, &b));
        /* all upper case is accepted too */
        for (int k = 0; s[k]; k++) s[k] = (char)toupper((unsigned char)s[k]);
        assert_int_equal(btt_account_parse_cstr(s, &b, NULL), BTT_OK);
        assert_true(btt_account_eq(&a, &b));
    }
}

/* Every single-character substitution is caught: by the checksum or by the pad bits. */
static void test_typos_caught(void **state)
{
    (void)state;
    btt_account a;
    seq_key(&a);
    char s[BTT_ACCOUNT_STR_LEN + 1];
    btt_account_format(&a, s);
    int caught = 0;
    for (int pos = 4; pos < BTT_ACCOUNT_STR_LEN; pos++) {
        for (int c = 0; c < 32; c++) {
            if (alphabet[c] == s[pos]) continue;
            char t[BTT_ACCOUNT_STR_LEN + 1];
            memcpy(t, s, sizeof t);
            t[pos] = alphabet[c];
            btt_account b;
            btt_error err = {0};
            assert_int_equal(btt_account_parse_cstr(t, &b, &err), BTT_EINVAL);
            caught++;
        }
    }
    assert_int_equal(caught, 58 * 31);
    /* two swapped neighbours */
    char t[BTT_ACCOUNT_STR_LEN + 1];
    memcpy(t, s, sizeof t);
    for (int pos = 4; pos + 1 < BTT_ACCOUNT_STR_LEN - 1; pos++) {
        if (t[pos] == t[pos + 1]) continue;
        char u[BTT_ACCOUNT_STR_LEN + 1];
        memcpy(u, s, sizeof u);
        u[pos] = s[pos + 1], u[pos + 1] = s[pos];
        btt_account b;
        assert_int_equal(btt_account_parse_cstr(u, &b, NULL), BTT_EINVAL);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    btt_account a;
    seq_key(&a);
    char s[BTT_ACCOUNT_STR_LEN + 1], t[BTT_ACCOUNT_STR_LEN + 8];
    btt_account_format(&a, s);

    expect_fail("", "must start with \"btt1\"");
    expect_fail("btt", "must start with \"btt1\"");
    memcpy(t, s, sizeof s);
    t[3] = '2';
    expect_fail(t, "must start with \"btt1\"");
    memcpy(t, s, sizeof s);
    t[0] = 'x';
    expect_fail(t, "must start with \"btt1\"");
    /* wrong lengths */
    memcpy(t, s, sizeof s);
    t[BTT_ACCOUNT_STR_LEN - 1] = 0;
    expect_fail(t, "61 characters, expected 62");
    snprintf(t, sizeof t, "%sa", s);
    expect_fail(t, "63 characters, expected 62");
    /* characters outside the alphabet: 0, 1, 8, 9, punctuation */
    const char bad[] = "0189-_ =";
    for (const char *c = bad; *c; c++) {
        memcpy(t, s, sizeof s);
        t[10] = *c;
        expect_fail(t, "invalid character at position 11");
    }
    /* mixed case */
    memcpy(t, s, sizeof s);
    t[20] = (char)toupper((unsigned char)t[20]);
    if (t[20] != s[20]) expect_fail(t, "mixes upper and lower case");
    /* checksum */
    memcpy(t, s, sizeof s);
    t[8] = t[8] == 'a' ? 'b' : 'a';
    expect_fail(t, "checksum mismatch");
    /* non-zero pad bits: the last character carries 3 data bits and 2 pad bits */
    memcpy(t, s, sizeof s);
    {
        int v = (int)(strchr(alphabet, t[BTT_ACCOUNT_STR_LEN - 1]) - alphabet);
        t[BTT_ACCOUNT_STR_LEN - 1] = alphabet[v | 1];
        expect_fail(t, "last character");
    }
    /* NULs inside the given length */
    btt_account b;
    memcpy(t, s, sizeof s);
    t[30] = 0;
    assert_int_equal(btt_account_parse(t, BTT_ACCOUNT_STR_LEN, &b, NULL), BTT_EINVAL);
}

static void test_valid_key(void **state)
{
    (void)state;
    btt_wallet *w;
    assert_int_equal(btt_wallet_generate(&w, NULL), BTT_OK);
    assert_true(btt_account_is_valid_key(btt_wallet_account(w)));
    btt_wallet_free(w);
    btt_account zero, one;
    memset(&zero, 0, sizeof zero);
    memset(&one, 0, sizeof one);
    one.key[0] = 1; /* the identity point: small order */
    assert_false(btt_account_is_valid_key(&zero));
    assert_false(btt_account_is_valid_key(&one));
    btt_account ff;
    memset(&ff, 0xff, sizeof ff); /* not canonical */
    assert_false(btt_account_is_valid_key(&ff));
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector), cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_typos_caught), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_valid_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
