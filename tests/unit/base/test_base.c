/* Unit tests for the base module: error, buf (incl. the hard cap), checked arithmetic,
 * hex, log and sha1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btt/buf.h"
#include "btt/checked.h"
#include "btt/error.h"
#include "btt/log.h"
#include "btt/sha1.h"

/* ------------------------------------------------------------------ error */

static void test_err_names_and_messages(void **state)
{
    assert_int_equal(BTT_OK, 0);
    assert_string_equal(btt_err_name(BTT_OK), "BTT_EOK");
    assert_string_equal(btt_err_name(BTT_EHASH), "BTT_EHASH");
    assert_string_equal(btt_err_name(BTT_ENOENT), "BTT_ENOENT");
    assert_string_equal(btt_err_message(BTT_OK), "success");
    assert_string_equal(btt_err_message(BTT_ENOENT), "no such file or directory");
    assert_string_equal(btt_err_message(BTT_ERESUME), "resume data rejected");
    assert_string_equal(btt_err_message(BTT_ECANCELED), "operation canceled");

    /* every code has a distinct name "BTT_E..." and a non-empty message */
    for (int i = 0; i < BTT_ERR_COUNT; i++) {
        const char *name = btt_err_name((btt_err)i);
        const char *msg = btt_err_message((btt_err)i);
        assert_non_null(name);
        assert_non_null(msg);
        assert_true(strncmp(name, "BTT_E", 5) == 0);
        assert_true(strlen(msg) > 0);
        for (int j = 0; j < i; j++) assert_string_not_equal(name, btt_err_name((btt_err)j));
    }
    /* never NULL, even for codes outside the enum */
    assert_non_null(btt_err_name(BTT_ERR_COUNT));
    assert_non_null(btt_err_message(BTT_ERR_COUNT));
    assert_non_null(btt_err_name((btt_err)9999));
    assert_non_null(btt_err_message((btt_err)9999));
    assert_non_null(btt_err_name((btt_err)-1));
    assert_non_null(btt_err_message((btt_err)-1));
}

static void test_error_set(void **state)
{
    btt_error err = {0};
    assert_int_equal(btt_error_set(&err, BTT_EPATH, "info.files[%d].path: '%s' is not allowed", 3, ".."),
                     BTT_EPATH);
    assert_int_equal(err.code, BTT_EPATH);
    assert_string_equal(err.msg, "info.files[3].path: '..' is not allowed");
    assert_string_equal(btt_error_str(&err), "info.files[3].path: '..' is not allowed");

    /* NULL means "don't care": the code is still returned */
    assert_int_equal(btt_error_set(NULL, BTT_EIO, "ignored %d", 1), BTT_EIO);
}

static void test_error_truncation(void **state)
{
    btt_error err = {0};
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(btt_error_set(&err, BTT_EINVAL, "%s", big), BTT_EINVAL);
    assert_int_equal(err.code, BTT_EINVAL);
    size_t n = strnlen(err.msg, sizeof err.msg);
    assert_true(n < sizeof err.msg); /* NUL-terminated inside the array */
    assert_true(n > 100);            /* truncated, not dropped */
    assert_int_equal(err.msg[0], 'x');
}

static void test_error_prefix(void **state)
{
    btt_error err = {0};
    assert_int_equal(btt_error_set(&err, BTT_EMETAINFO, "bad length"), BTT_EMETAINFO);
    btt_error_prefix(&err, "file %s", "a.torrent");
    assert_int_equal(err.code, BTT_EMETAINFO);
    assert_string_equal(err.msg, "file a.torrent: bad length");

    btt_error_prefix(&err, "outer");
    assert_string_equal(err.msg, "outer: file a.torrent: bad length");

    /* prefixing a message near the cap keeps it terminated */
    char big[600];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(btt_error_set(&err, BTT_EIO, "%s", big), BTT_EIO);
    btt_error_prefix(&err, "ctx");
    assert_true(strnlen(err.msg, sizeof err.msg) < sizeof err.msg);
    assert_true(strncmp(err.msg, "ctx: y", 6) == 0);

    btt_error_prefix(NULL, "nothing %d", 1); /* must not crash */
}

static void test_error_errno(void **state)
{
    btt_error err = {0};
    char want[600];

    assert_int_equal(btt_error_errno(&err, ENOENT, "open /x/y"), BTT_ENOENT);
    assert_int_equal(err.code, BTT_ENOENT);
    snprintf(want, sizeof want, "open /x/y: %s", strerror(ENOENT));
    assert_string_equal(err.msg, want);

    assert_int_equal(btt_error_errno(&err, ENOMEM, "alloc"), BTT_ENOMEM);
    assert_int_equal(err.code, BTT_ENOMEM);

    assert_int_equal(btt_error_errno(&err, EACCES, "open z"), BTT_EIO);
    assert_int_equal(err.code, BTT_EIO);
    snprintf(want, sizeof want, "open z: %s", strerror(EACCES));
    assert_string_equal(err.msg, want);

    assert_int_equal(btt_error_errno(&err, ENOSPC, "write"), BTT_EIO);
    assert_non_null(strstr(err.msg, strerror(ENOSPC)));

    assert_int_equal(btt_error_errno(NULL, ENOENT, "x"), BTT_ENOENT);
}

static void test_error_str_fallback(void **state)
{
    btt_error err = {0};
    err.code = BTT_EHASH;
    err.msg[0] = '\0';
    assert_string_equal(btt_error_str(&err), "hash mismatch");
}

/* ------------------------------------------------------------------ buf */

static void test_buf_basic(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 1024);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 1024);
    assert_int_equal(btt_buf_append(&b, "hello", 5), BTT_OK);
    assert_int_equal(btt_buf_append_byte(&b, ' '), BTT_OK);
    assert_int_equal(btt_buf_printf(&b, "%s-%d", "world", 42), BTT_OK);
    assert_int_equal(b.len, strlen("hello world-42"));
    assert_memory_equal(b.data, "hello world-42", b.len);
    assert_true(b.cap >= b.len);

    btt_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(btt_buf_append(&b, "abc", 3), BTT_OK);
    assert_memory_equal(b.data, "abc", 3);

    /* zero-length append is fine */
    assert_int_equal(btt_buf_append(&b, "", 0), BTT_OK);
    assert_int_equal(b.len, 3);
    btt_buf_free(&b);
}

static void test_buf_grow_large(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    for (int i = 0; i < 100000; i++) assert_int_equal(btt_buf_append_byte(&b, (uint8_t)i), BTT_OK);
    assert_int_equal(b.len, 100000);
    for (int i = 0; i < 100000; i++) assert_int_equal(b.data[i], (uint8_t)i);
    btt_buf_free(&b);
}

static void test_buf_cap_append(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 10);
    assert_int_equal(btt_buf_append(&b, "0123456789", 10), BTT_OK); /* exactly max */
    assert_int_equal(b.len, 10);
    assert_int_equal(btt_buf_append_byte(&b, 'x'), BTT_ETOOBIG);
    assert_int_equal(btt_buf_append(&b, "x", 1), BTT_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "0123456789", 10);
    btt_buf_free(&b);

    /* a failing append leaves the buffer unchanged */
    btt_buf_init(&b, 10);
    assert_int_equal(btt_buf_append(&b, "abcdef", 6), BTT_OK);
    assert_int_equal(btt_buf_append(&b, "ghijk", 5), BTT_ETOOBIG);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "abcdef", 6);
    assert_int_equal(btt_buf_append(&b, "ghij", 4), BTT_OK);
    assert_memory_equal(b.data, "abcdefghij", 10);
    btt_buf_free(&b);

    /* a huge length near SIZE_MAX must not wrap around the cap check */
    btt_buf_init(&b, 10);
    assert_int_equal(btt_buf_append(&b, "ab", 2), BTT_OK);
    assert_int_equal(btt_buf_append(&b, "x", SIZE_MAX), BTT_ETOOBIG);
    assert_int_equal(btt_buf_append(&b, "x", SIZE_MAX - 1), BTT_ETOOBIG);
    assert_int_equal(b.len, 2);
    btt_buf_free(&b);
}

static void test_buf_cap_printf_reserve(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 8);
    assert_int_equal(btt_buf_printf(&b, "%d", 1234), BTT_OK);
    assert_int_equal(btt_buf_printf(&b, "%s", "56789"), BTT_ETOOBIG); /* would be 9 */
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "1234", 4);
    assert_int_equal(btt_buf_printf(&b, "%s", "5678"), BTT_OK); /* exactly 8 */
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "12345678", 8);
    btt_buf_free(&b);

    btt_buf_init(&b, 100);
    assert_int_equal(btt_buf_reserve(&b, 50), BTT_OK);
    assert_true(b.cap >= 50);
    assert_int_equal(b.len, 0);
    assert_int_equal(btt_buf_reserve(&b, 101), BTT_ETOOBIG);
    assert_int_equal(btt_buf_reserve(&b, SIZE_MAX), BTT_ETOOBIG);
    btt_buf_free(&b);

    /* a long printf (beyond any small internal stack buffer) still works */
    btt_buf_init(&b, 100000);
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(btt_buf_printf(&b, "<%s>", big), BTT_OK);
    assert_int_equal(b.len, sizeof big + 1);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[b.len - 1], '>');
    assert_int_equal(b.data[2500], 'q');
    btt_buf_free(&b);
}

static void test_buf_steal(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 64);
    assert_int_equal(btt_buf_append(&b, "text", 4), BTT_OK);
    size_t len = 0;
    uint8_t *p = btt_buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 4);
    assert_string_equal((char *)p, "text"); /* NUL kept after the data */
    assert_int_equal(b.len, 0);
    free(p);

    /* the buffer is reusable after steal */
    assert_int_equal(btt_buf_append(&b, "again", 5), BTT_OK);
    assert_memory_equal(b.data, "again", 5);
    btt_buf_free(&b);

    /* stealing an empty buffer gives an empty C string */
    btt_buf_init(&b, 64);
    p = btt_buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 0);
    assert_int_equal(p[0], '\0');
    free(p);
    btt_buf_free(&b);

    /* a buffer filled exactly to max can still be stolen with its NUL */
    btt_buf_init(&b, 4);
    assert_int_equal(btt_buf_append(&b, "abcd", 4), BTT_OK);
    p = btt_buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 4);
    assert_string_equal((char *)p, "abcd");
    free(p);
    btt_buf_free(&b);
}

/* ------------------------------------------------------------------ hex */

static void test_hex(void **state)
{
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff, 0x10};
    char out[2 * sizeof in + 1];
    memset(out, '#', sizeof out);
    btt_hex(in, sizeof in, out);
    assert_string_equal(out, "0001abcdefff10");

    char empty[1] = {'#'};
    btt_hex(in, 0, empty);
    assert_int_equal(empty[0], '\0');

    uint8_t back[sizeof in];
    assert_int_equal(btt_unhex("0001abcdefff10", 14, back, sizeof back), 0);
    assert_memory_equal(back, in, sizeof in);
    assert_int_equal(btt_unhex("0001ABCDEFFF10", 14, back, sizeof back), 0);
    assert_memory_equal(back, in, sizeof in);
    assert_int_equal(btt_unhex("0001AbCdEfFf10", 14, back, sizeof back), 0);
    assert_memory_equal(back, in, sizeof in);

    uint8_t two[2];
    assert_int_equal(btt_unhex("zz00", 4, two, 2), -1);
    assert_int_equal(btt_unhex("0g00", 4, two, 2), -1);
    assert_int_equal(btt_unhex("00 0", 4, two, 2), -1);
    assert_int_equal(btt_unhex("000", 3, two, 2), -1);     /* too short */
    assert_int_equal(btt_unhex("00000", 5, two, 2), -1);   /* too long */
    assert_int_equal(btt_unhex("000000", 6, two, 2), -1);  /* exactly 2n required */
    assert_int_equal(btt_unhex("0\0" "00", 4, two, 2), -1); /* embedded NUL */
    assert_int_equal(btt_unhex("ffFF", 4, two, 2), 0);
    assert_int_equal(two[0], 0xff);
    assert_int_equal(two[1], 0xff);

    /* every byte value round-trips */
    uint8_t all[256], again[256];
    char hex[513];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    btt_hex(all, 256, hex);
    assert_int_equal(strlen(hex), 512);
    assert_int_equal(btt_unhex(hex, 512, again, 256), 0);
    assert_memory_equal(all, again, 256);
}

/* ------------------------------------------------------------------ checked */

static void test_checked(void **state)
{
    uint64_t u;
    int64_t i;
    size_t s;

    assert_true(btt_add_u64(1, 2, &u));
    assert_int_equal(u, 3);
    assert_true(btt_add_u64(UINT64_MAX - 1, 1, &u));
    assert_true(u == UINT64_MAX);
    assert_false(btt_add_u64(UINT64_MAX, 1, &u));
    assert_false(btt_add_u64(UINT64_MAX, UINT64_MAX, &u));

    assert_true(btt_sub_u64(5, 5, &u));
    assert_int_equal(u, 0);
    assert_false(btt_sub_u64(0, 1, &u));

    assert_true(btt_mul_u64(UINT64_C(1) << 32, (UINT64_C(1) << 32) - 1, &u));
    assert_false(btt_mul_u64(UINT64_C(1) << 32, UINT64_C(1) << 32, &u));
    assert_true(btt_mul_u64(0, UINT64_MAX, &u));
    assert_int_equal(u, 0);

    assert_true(btt_add_i64(INT64_MAX - 1, 1, &i));
    assert_true(i == INT64_MAX);
    assert_false(btt_add_i64(INT64_MAX, 1, &i));
    assert_false(btt_add_i64(INT64_MIN, -1, &i));
    assert_true(btt_add_i64(INT64_MIN, INT64_MAX, &i));
    assert_true(i == -1);

    assert_true(btt_mul_i64(-3, 4, &i));
    assert_true(i == -12);
    assert_false(btt_mul_i64(INT64_MIN, -1, &i));
    assert_false(btt_mul_i64(INT64_MAX, 2, &i));

    assert_true(btt_add_size(SIZE_MAX - 10, 10, &s));
    assert_true(s == SIZE_MAX);
    assert_false(btt_add_size(SIZE_MAX - 10, 11, &s));
    assert_true(btt_mul_size(SIZE_MAX / 2, 2, &s));
    assert_false(btt_mul_size(SIZE_MAX / 2 + 1, 2, &s));

    assert_int_equal(btt_div_ceil_u64(0, 7), 0);
    assert_int_equal(btt_div_ceil_u64(1, 7), 1);
    assert_int_equal(btt_div_ceil_u64(7, 7), 1);
    assert_int_equal(btt_div_ceil_u64(8, 7), 2);
    assert_true(btt_div_ceil_u64(UINT64_MAX, 1) == UINT64_MAX);
    assert_true(btt_div_ceil_u64(UINT64_MAX, 2) == (UINT64_MAX / 2) + 1);
    assert_true(btt_div_ceil_u64(UINT64_MAX, UINT64_MAX) == 1);
}

/* ------------------------------------------------------------------ sha1 */

static void sha1_hex(const void *p, size_t n, char out[41])
{
    uint8_t md[BTT_SHA1_LEN];
    btt_sha1(p, n, md);
    btt_hex(md, BTT_SHA1_LEN, out);
}

static void test_sha1_vectors(void **state)
{
    char hex[41];
    sha1_hex("", 0, hex);
    assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    sha1_hex("abc", 3, hex);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1_hex(two, strlen(two), hex);
    assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

    /* one million 'a' */
    size_t n = 1000000;
    char *m = malloc(n);
    assert_non_null(m);
    memset(m, 'a', n);
    sha1_hex(m, n, hex);
    assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");

    /* incremental in uneven parts gives the same digest */
    btt_sha1_ctx *c = btt_sha1_new();
    assert_non_null(c);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = step < n - off ? step : n - off;
        btt_sha1_update(c, m + off, k);
        off += k;
        step = step * 3 + 1;
    }
    uint8_t md[BTT_SHA1_LEN];
    btt_sha1_final(c, md);
    btt_hex(md, BTT_SHA1_LEN, hex);
    assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(m);

    /* an empty incremental hash equals the empty digest */
    c = btt_sha1_new();
    assert_non_null(c);
    btt_sha1_final(c, md);
    btt_hex(md, BTT_SHA1_LEN, hex);
    assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

/* ------------------------------------------------------------------ log */

static void test_log_levels(void **state)
{
    assert_int_equal(btt_log_parse_level("error"), BTT_LOG_ERROR);
    assert_int_equal(btt_log_parse_level("warn"), BTT_LOG_WARN);
    assert_int_equal(btt_log_parse_level("info"), BTT_LOG_INFO);
    assert_int_equal(btt_log_parse_level("debug"), BTT_LOG_DEBUG);
    assert_int_equal(btt_log_parse_level("verbose"), -1);
    assert_int_equal(btt_log_parse_level(""), -1);
    assert_int_equal(btt_log_parse_level("info2"), -1);

    btt_log_level saved = btt_log_get_level();
    btt_log_set_level(BTT_LOG_DEBUG);
    assert_int_equal(btt_log_get_level(), BTT_LOG_DEBUG);
    btt_log_set_level(BTT_LOG_WARN);
    assert_int_equal(btt_log_get_level(), BTT_LOG_WARN);
    btt_log_set_level(saved);
}

static void test_log_output_filtered(void **state)
{
    /* capture stderr in a temporary file */
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved_fd = dup(STDERR_FILENO);
    assert_true(saved_fd >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);

    btt_log_level saved = btt_log_get_level();
    btt_log_set_level(BTT_LOG_INFO);
    BTT_LOGI("unittest", "visible-%d", 4242);
    BTT_LOGD("unittest", "hidden-%d", 1717);
    btt_log(BTT_LOG_DEBUG, "unittest", "alsohidden-%d", 1818);
    BTT_LOGE("unittest", "error-%d", 99);
    btt_log_set_level(saved);

    fflush(stderr);
    assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
    close(saved_fd);

    char text[4096] = {0};
    rewind(tmp);
    size_t n = fread(text, 1, sizeof text - 1, tmp);
    fclose(tmp);
    text[n] = '\0';
    assert_non_null(strstr(text, "visible-4242"));
    assert_non_null(strstr(text, "error-99"));
    assert_null(strstr(text, "hidden-1717"));
    assert_null(strstr(text, "alsohidden-1818"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_names_and_messages),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_error_truncation),
        cmocka_unit_test(test_error_prefix),
        cmocka_unit_test(test_error_errno),
        cmocka_unit_test(test_error_str_fallback),
        cmocka_unit_test(test_buf_basic),
        cmocka_unit_test(test_buf_grow_large),
        cmocka_unit_test(test_buf_cap_append),
        cmocka_unit_test(test_buf_cap_printf_reserve),
        cmocka_unit_test(test_buf_steal),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_checked),
        cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_log_output_filtered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
