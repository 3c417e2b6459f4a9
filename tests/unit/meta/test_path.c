/* Unit tests for path safety: component checks, join and mkparents. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btt/error.h"
#include "btt/path.h"

#define OK(x) assert_int_equal((x), BTT_OK)

static void reject(const char *p, size_t len, const char *what)
{
    btt_error err = {0};
    btt_err rc = btt_path_check_component(p, len, &err);
    if (rc != BTT_EPATH) fail_msg("component %s: got %s, want BTT_EPATH", what, btt_err_name(rc));
    assert_int_equal(err.code, BTT_EPATH);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(btt_path_check_component(p, len, NULL), BTT_EPATH);
}

static void accept_comp(const char *p, size_t len)
{
    btt_error err = {0};
    btt_err rc = btt_path_check_component(p, len, &err);
    if (rc != BTT_OK) fail_msg("component '%.*s' rejected: %s", (int)len, p, err.msg);
}

static void test_check_component_rejects(void **state)
{
    reject("", 0, "\"\"");
    reject(".", 1, "\".\"");
    reject("..", 2, "\"..\"");
    reject("a/b", 3, "a/b");
    reject("/", 1, "/");
    reject("/etc", 4, "/etc");
    reject("a/", 2, "a/");
    reject("a\\b", 3, "a\\b");
    reject("\\", 1, "\\");
    reject("..\\x", 4, "..\\x");
    reject("a\0b", 3, "a\\0b");
    reject("\0", 1, "\\0");
    reject("ab\0", 3, "ab\\0");

    char big[300];
    memset(big, 'x', sizeof big);
    reject(big, 256, "256 bytes");
    reject(big, 300, "300 bytes");
    /* length counts bytes, not characters: 128 two-byte characters = 256 bytes */
    char u[256];
    for (int i = 0; i < 128; i++) {
        u[2 * i] = (char)0xc3;
        u[2 * i + 1] = (char)0xa9;
    }
    reject(u, 256, "128 x U+00E9");

    /* the message names the component */
    btt_error err = {0};
    assert_int_equal(btt_path_check_component("..", 2, &err), BTT_EPATH);
    assert_non_null(strstr(err.msg, ".."));
}

static void test_check_component_accepts(void **state)
{
    accept_comp("a", 1);
    accept_comp("file.txt", 8);
    accept_comp(".hidden", 7);
    accept_comp("..a", 3);
    accept_comp("a..", 3);
    accept_comp("...", 3);
    accept_comp("a b c", 5);
    accept_comp("name with: colon", 16);
    accept_comp("\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb", 8);      /* файл */
    accept_comp("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.txt", 13); /* 日本語.txt */
    accept_comp("\xf0\x9f\x98\x80", 4);                      /* emoji */
    char big[255];
    memset(big, 'x', sizeof big);
    accept_comp(big, 255);
    /* only len bytes are examined: a slice of a longer string */
    accept_comp("abc/def", 3);
}

static void test_slice_dot(void **state)
{
    /* len 1 of "..x" is "." and must be rejected; len 2 is ".." */
    reject("..x", 1, "slice '.'");
    reject("..x", 2, "slice '..'");
}

static void test_join(void **state)
{
    char *s = btt_path_join("/tmp/dl", "a/b.txt");
    assert_non_null(s);
    assert_string_equal(s, "/tmp/dl/a/b.txt");
    free(s);
    s = btt_path_join("dir", "x");
    assert_non_null(s);
    assert_string_equal(s, "dir/x");
    free(s);
    s = btt_path_join(".", "\xe6\x97\xa5.txt");
    assert_non_null(s);
    assert_string_equal(s, "./\xe6\x97\xa5.txt");
    free(s);
    char longrel[3000];
    memset(longrel, 'r', sizeof longrel - 1);
    longrel[sizeof longrel - 1] = '\0';
    s = btt_path_join("/base", longrel);
    assert_non_null(s);
    assert_int_equal(strlen(s), 6 + sizeof longrel - 1);
    assert_true(strncmp(s, "/base/rrr", 9) == 0);
    free(s);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void test_mkparents(void **state)
{
    char tmpl[] = "/tmp/btt-test-path-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *file = btt_path_join(tmpl, "a/b/c/file.bin");
    assert_non_null(file);
    btt_error err = {0};
    mode_t old_mask = umask(022);
    btt_err made = btt_path_mkparents(file, &err);
    umask(old_mask);
    OK(made);

    struct stat sb;
    char buf[512];
    snprintf(buf, sizeof buf, "%s/a/b/c", tmpl);
    assert_int_equal(stat(buf, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0755);
    assert_int_equal(stat(file, &sb), -1); /* not the path itself */
    assert_int_equal(errno, ENOENT);

    /* again: everything exists already */
    OK(btt_path_mkparents(file, &err));

    /* a file where a directory should be */
    snprintf(buf, sizeof buf, "%s/plain", tmpl);
    FILE *f = fopen(buf, "w");
    assert_non_null(f);
    fclose(f);
    char *under = btt_path_join(buf, "x/y");
    assert_non_null(under);
    btt_err rc = btt_path_mkparents(under, &err);
    assert_int_not_equal(rc, BTT_OK);
    assert_int_equal(err.code, rc);
    assert_true(strlen(err.msg) > 0);

    /* a path without a parent component needs nothing */
    OK(btt_path_mkparents("just-a-name", &err));

    free(under);
    free(file);
    assert_int_equal(nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_component_rejects),
        cmocka_unit_test(test_check_component_accepts),
        cmocka_unit_test(test_slice_dot),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_mkparents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
