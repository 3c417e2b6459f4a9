/* Unit tests for .torrent metainfo: parsing (single/multi-file, BEP 12/19/27/47), the
 * info-hash, piece maths, validation errors with their messages, automatic piece length,
 * creation from a directory and loading from a file. */
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
#include <time.h>
#include <unistd.h>

#include "btt/bencode.h"
#include "btt/bitfield.h"
#include "btt/buf.h"
#include "btt/checked.h"
#include "btt/error.h"
#include "btt/hasher.h"
#include "btt/metainfo.h"
#include "btt/path.h"
#include "btt/sha1.h"
#include "btt/storage.h"

#define OK(x) assert_int_equal((x), BTT_OK)
#define CODE(c) (1u << (c))

/* ------------------------------------------------------------------ helpers */

static void expect_msg(const btt_error *err, const char *alternatives)
{
    /* alternatives: "a|b|c", any one (case-insensitive) must appear in err->msg */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", alternatives);
    for (char *save = NULL, *tok = strtok_r(tmp, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
        if (strcasestr(err->msg, tok)) return;
    fail_msg("error message '%s' names none of '%s'", err->msg, alternatives);
}

/* Pieces field value: "<20n>:" followed by 20n bytes of 'a'. Rotating static buffers. */
static const char *P(size_t n)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ & 3];
    int k = snprintf(b, sizeof bufs[0], "%zu:", 20 * n);
    assert_true(k > 0 && (size_t)k + 20 * n < sizeof bufs[0]);
    memset(b + k, 'a', 20 * n);
    b[k + 20 * n] = '\0';
    return b;
}

static char *vfmt(const char *f, va_list ap)
{
    char *s = NULL;
    assert_true(vasprintf(&s, f, ap) >= 0);
    return s;
}

/* Parses "d8:announce...4:info" + <info> + "e" where info is printf-formatted. */
static btt_err parse_info(btt_metainfo **mi, btt_error *err, const char *info_fmt, ...)
{
    va_list ap;
    va_start(ap, info_fmt);
    char *info = vfmt(info_fmt, ap);
    va_end(ap);
    char *t = NULL;
    assert_true(asprintf(&t, "d8:announce25:http://t.example/announce4:info%se", info) >= 0);
    *mi = (btt_metainfo *)(uintptr_t)1;
    memset(err, 0, sizeof *err);
    btt_err rc = btt_metainfo_parse((const uint8_t *)t, strlen(t), mi, err);
    free(t);
    free(info);
    return rc;
}

/* Parsing must fail with one of the codes in mask and a message naming one of subs. */
static void expect_reject(unsigned mask, const char *subs, const char *info_fmt, ...)
{
    va_list ap;
    va_start(ap, info_fmt);
    char *info = vfmt(info_fmt, ap);
    va_end(ap);
    btt_metainfo *mi;
    btt_error err;
    btt_err rc = parse_info(&mi, &err, "%s", info);
    if (rc == BTT_OK) {
        btt_metainfo_free(mi);
        fail_msg("accepted info dict: %.200s", info);
    }
    if (!(mask & CODE(rc)) || err.code != rc) {
        print_error("info dict %.200s\n", info);
        fail_msg("got %s (err.code %s, msg '%s')", btt_err_name(rc), btt_err_name(err.code), err.msg);
    }
    if (mi != NULL) fail_msg("*out not NULL on failure");
    print_message("  rejected (%s): %s\n", btt_err_name(rc), err.msg);
    expect_msg(&err, subs);
    free(info);
}

typedef struct tfile {
    const char *path[4]; /* NULL-terminated components */
    int64_t length;
    const char *attr; /* NULL: none */
} tfile;

/* Encodes an info dict. files == NULL: single-file with `length`. private_flag < 0: omitted. */
static void enc_info(btt_buf *b, const char *name, const tfile *files, size_t nfiles, int64_t length,
                     int64_t plen, const uint8_t *pieces, size_t npieces, int private_flag)
{
    OK(btt_benc_dict(b));
    if (files) {
        OK(btt_benc_cstr(b, "files"));
        OK(btt_benc_list(b));
        for (size_t i = 0; i < nfiles; i++) {
            OK(btt_benc_dict(b));
            if (files[i].attr) {
                OK(btt_benc_cstr(b, "attr"));
                OK(btt_benc_cstr(b, files[i].attr));
            }
            OK(btt_benc_cstr(b, "length"));
            OK(btt_benc_int(b, files[i].length));
            OK(btt_benc_cstr(b, "path"));
            OK(btt_benc_list(b));
            for (size_t k = 0; files[i].path[k]; k++) OK(btt_benc_cstr(b, files[i].path[k]));
            OK(btt_benc_end(b));
            OK(btt_benc_end(b));
        }
        OK(btt_benc_end(b));
    } else {
        OK(btt_benc_cstr(b, "length"));
        OK(btt_benc_int(b, length));
    }
    OK(btt_benc_cstr(b, "name"));
    OK(btt_benc_cstr(b, name));
    OK(btt_benc_cstr(b, "piece length"));
    OK(btt_benc_int(b, plen));
    OK(btt_benc_cstr(b, "pieces"));
    OK(btt_benc_str(b, pieces, 20 * npieces));
    if (private_flag >= 0) {
        OK(btt_benc_cstr(b, "private"));
        OK(btt_benc_int(b, private_flag));
    }
    OK(btt_benc_end(b));
}

static void fill_pseudo(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 8);
    }
}

static void assert_hash_of(const uint8_t hash[20], const uint8_t *raw, size_t len)
{
    uint8_t want[BTT_SHA1_LEN];
    btt_sha1(raw, len, want);
    assert_memory_equal(hash, want, BTT_SHA1_LEN);
}

/* ------------------------------------------------------------------ valid torrents */

static void test_single_file(void **state)
{
    uint8_t pieces[3 * 20];
    fill_pseudo(pieces, sizeof pieces, 1);
    btt_buf info, t;
    btt_buf_init(&info, 1 << 20);
    btt_buf_init(&t, 1 << 20);
    enc_info(&info, "file.bin", NULL, 0, 40000, 16384, pieces, 3, -1);

    OK(btt_benc_dict(&t));
    OK(btt_benc_cstr(&t, "announce"));
    OK(btt_benc_cstr(&t, "http://tracker.example/announce"));
    OK(btt_benc_cstr(&t, "comment"));
    OK(btt_benc_cstr(&t, "hello world"));
    OK(btt_benc_cstr(&t, "created by"));
    OK(btt_benc_cstr(&t, "unit test"));
    OK(btt_benc_cstr(&t, "creation date"));
    OK(btt_benc_int(&t, 1700000000));
    OK(btt_benc_cstr(&t, "info"));
    OK(btt_benc_raw(&t, info.data, info.len));
    OK(btt_benc_end(&t));

    btt_metainfo *mi = NULL;
    btt_error err = {0};
    OK(btt_metainfo_parse(t.data, t.len, &mi, &err));
    assert_non_null(mi);

    assert_hash_of(mi->info_hash, info.data, info.len);
    assert_int_equal(mi->info_len, info.len);
    assert_memory_equal(mi->info_raw, info.data, info.len);
    char hex[41], want_hex[41];
    btt_metainfo_hash_hex(mi, hex);
    btt_hex(mi->info_hash, 20, want_hex);
    assert_string_equal(hex, want_hex);

    assert_string_equal(mi->name, "file.bin");
    assert_false(mi->multi_file);
    assert_false(mi->is_private);
    assert_int_equal(mi->total_size, 40000);
    assert_int_equal(mi->piece_length, 16384);
    assert_int_equal(mi->num_pieces, 3);
    assert_memory_equal(mi->pieces, pieces, sizeof pieces);
    assert_int_equal(mi->num_files, 1);
    assert_string_equal(mi->files[0].path, "file.bin");
    assert_int_equal(mi->files[0].length, 40000);
    assert_int_equal(mi->files[0].offset, 0);
    assert_int_equal(mi->files[0].attr, 0);

    assert_int_equal(btt_metainfo_piece_size(mi, 0), 16384);
    assert_int_equal(btt_metainfo_piece_size(mi, 1), 16384);
    assert_int_equal(btt_metainfo_piece_size(mi, 2), 40000 - 2 * 16384);
    size_t first = 99, last = 99;
    btt_metainfo_piece_files(mi, 2, &first, &last);
    assert_int_equal(first, 0);
    assert_int_equal(last, 0);

    assert_int_equal(mi->num_tiers, 1);
    assert_int_equal(mi->tiers[0].count, 1);
    assert_string_equal(mi->tiers[0].urls[0], "http://tracker.example/announce");
    assert_int_equal(mi->num_web_seeds, 0);
    assert_string_equal(mi->comment, "hello world");
    assert_string_equal(mi->created_by, "unit test");
    assert_true(mi->creation_date == 1700000000);
    btt_metainfo_free(mi);
    btt_metainfo_free(NULL);

    /* an exact multiple: the last piece is full, not 0 */
    btt_buf_reset(&info);
    btt_buf_reset(&t);
    enc_info(&info, "even.bin", NULL, 0, 32768, 16384, pieces, 2, 0);
    OK(btt_benc_dict(&t));
    OK(btt_benc_cstr(&t, "info"));
    OK(btt_benc_raw(&t, info.data, info.len));
    OK(btt_benc_end(&t));
    OK(btt_metainfo_parse(t.data, t.len, &mi, &err));
    assert_int_equal(mi->num_pieces, 2);
    assert_int_equal(btt_metainfo_piece_size(mi, 1), 16384);
    assert_false(mi->is_private); /* private = 0 */
    assert_int_equal(mi->num_tiers, 0);  /* no announce at all (trackerless) */
    assert_null(mi->comment);
    assert_true(mi->creation_date == 0);
    assert_hash_of(mi->info_hash, info.data, info.len);
    btt_metainfo_free(mi);

    /* a single piece smaller than the piece length */
    btt_buf_reset(&info);
    btt_buf_reset(&t);
    enc_info(&info, "tiny", NULL, 0, 1, 262144, pieces, 1, -1);
    OK(btt_benc_dict(&t));
    OK(btt_benc_cstr(&t, "info"));
    OK(btt_benc_raw(&t, info.data, info.len));
    OK(btt_benc_end(&t));
    OK(btt_metainfo_parse(t.data, t.len, &mi, &err));
    assert_int_equal(mi->num_pieces, 1);
    assert_int_equal(btt_metainfo_piece_size(mi, 0), 1);
    btt_metainfo_free(mi);

    btt_buf_free(&info);
    btt_buf_free(&t);
}

static void test_multi_file(void **state)
{
    const tfile files[] = {
        {{"dir", "a.txt", NULL}, 10000, NULL},
        {{"empty", NULL}, 0, NULL},
        {{"b.bin", NULL}, 20000, NULL},
        {{".pad", "2768", NULL}, 2768, "p"},
        {{"c", "d", "e.sh", NULL}, 5000, "xh"},
    };
    uint8_t pieces[3 * 20];
    fill_pseudo(pieces, sizeof pieces, 2);
    btt_buf info, t;
    btt_buf_init(&info, 1 << 20);
    btt_buf_init(&t, 1 << 20);
    enc_info(&info, "multi", files, 5, 0, 16384, pieces, 3, 1);

    OK(btt_benc_dict(&t));
    OK(btt_benc_cstr(&t, "announce"));
    OK(btt_benc_cstr(&t, "http://ignored.example/announce"));
    OK(btt_benc_cstr(&t, "announce-list"));
    OK(btt_benc_list(&t));
    OK(btt_benc_list(&t));
    OK(btt_benc_cstr(&t, "http://a1.example/announce"));
    OK(btt_benc_cstr(&t, "udp://a2.example:6969"));
    OK(btt_benc_end(&t));
    OK(btt_benc_list(&t));
    OK(btt_benc_cstr(&t, "http://b1.example/announce"));
    OK(btt_benc_end(&t));
    OK(btt_benc_end(&t));
    OK(btt_benc_cstr(&t, "info"));
    OK(btt_benc_raw(&t, info.data, info.len));
    OK(btt_benc_cstr(&t, "url-list"));
    OK(btt_benc_list(&t));
    OK(btt_benc_cstr(&t, "http://ws1.example/files/"));
    OK(btt_benc_cstr(&t, "http://ws2.example/"));
    OK(btt_benc_end(&t));
    OK(btt_benc_end(&t));

    btt_metainfo *mi = NULL;
    btt_error err = {0};
    OK(btt_metainfo_parse(t.data, t.len, &mi, &err));
    assert_hash_of(mi->info_hash, info.data, info.len);
    assert_memory_equal(mi->info_raw, info.data, info.len);
    assert_string_equal(mi->name, "multi");
    assert_true(mi->multi_file);
    assert_true(mi->is_private);
    assert_int_equal(mi->total_size, 37768);
    assert_int_equal(mi->num_pieces, 3);
    assert_int_equal(mi->num_files, 5);

    static const char *paths[] = {"dir/a.txt", "empty", "b.bin", ".pad/2768", "c/d/e.sh"};
    static const uint64_t lengths[] = {10000, 0, 20000, 2768, 5000};
    static const uint64_t offsets[] = {0, 10000, 10000, 30000, 32768};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(mi->files[i].path, paths[i]);
        assert_int_equal(mi->files[i].length, lengths[i]);
        assert_int_equal(mi->files[i].offset, offsets[i]);
    }
    assert_int_equal(mi->files[0].attr, 0);
    assert_int_equal(mi->files[2].attr, 0);
    assert_true(mi->files[3].attr & BTT_FILE_PAD);
    assert_false(mi->files[4].attr & BTT_FILE_PAD);
    assert_int_equal(mi->files[4].attr, BTT_FILE_EXEC | BTT_FILE_HIDDEN);

    assert_int_equal(btt_metainfo_piece_size(mi, 0), 16384);
    assert_int_equal(btt_metainfo_piece_size(mi, 1), 16384);
    assert_int_equal(btt_metainfo_piece_size(mi, 2), 37768 - 32768);

    size_t first, last;
    btt_metainfo_piece_files(mi, 0, &first, &last);
    assert_int_equal(first, 0);
    assert_int_equal(last, 2);
    btt_metainfo_piece_files(mi, 1, &first, &last);
    assert_int_equal(first, 2);
    assert_int_equal(last, 3);
    btt_metainfo_piece_files(mi, 2, &first, &last);
    assert_int_equal(first, 4);
    assert_int_equal(last, 4);

    /* announce-list wins over announce (BEP 12) */
    assert_int_equal(mi->num_tiers, 2);
    assert_int_equal(mi->tiers[0].count, 2);
    assert_string_equal(mi->tiers[0].urls[0], "http://a1.example/announce");
    assert_string_equal(mi->tiers[0].urls[1], "udp://a2.example:6969");
    assert_int_equal(mi->tiers[1].count, 1);
    assert_string_equal(mi->tiers[1].urls[0], "http://b1.example/announce");

    assert_int_equal(mi->num_web_seeds, 2);
    assert_string_equal(mi->web_seeds[0], "http://ws1.example/files/");
    assert_string_equal(mi->web_seeds[1], "http://ws2.example/");
    btt_metainfo_free(mi);
    btt_buf_free(&info);
    btt_buf_free(&t);
}

static void test_piece_files_skip_empty(void **state)
{
    btt_metainfo *mi;
    btt_error err;
    size_t first, last;

    /* a(16384) z(0) b(100): the empty file at the piece boundary belongs to no piece */
    OK(parse_info(&mi, &err,
                  "d5:filesld6:lengthi16384e4:pathl1:aeed6:lengthi0e4:pathl1:zeed6:lengthi100e4:pathl1:beee"
                  "4:name1:m12:piece lengthi16384e6:pieces%se",
                  P(2)));
    btt_metainfo_piece_files(mi, 0, &first, &last);
    assert_int_equal(first, 0);
    assert_int_equal(last, 0);
    btt_metainfo_piece_files(mi, 1, &first, &last);
    assert_int_equal(first, 2);
    assert_int_equal(last, 2);
    assert_int_equal(btt_metainfo_piece_size(mi, 1), 100);
    btt_metainfo_free(mi);

    /* leading and trailing empty files are never first/last */
    OK(parse_info(&mi, &err,
                  "d5:filesld6:lengthi0e4:pathl1:zeed6:lengthi100e4:pathl1:aeed6:lengthi0e4:pathl1:yeee"
                  "4:name1:m12:piece lengthi16384e6:pieces%se",
                  P(1)));
    assert_int_equal(mi->num_files, 3);
    btt_metainfo_piece_files(mi, 0, &first, &last);
    assert_int_equal(first, 1);
    assert_int_equal(last, 1);
    btt_metainfo_free(mi);

    /* a file spanning many pieces */
    OK(parse_info(&mi, &err,
                  "d5:filesld6:lengthi100e4:pathl1:aeed6:lengthi100000e4:pathl1:beed6:lengthi1e4:pathl1:ceee"
                  "4:name1:m12:piece lengthi16384e6:pieces%se",
                  P(7)));
    for (uint32_t i = 1; i < 6; i++) {
        btt_metainfo_piece_files(mi, i, &first, &last);
        assert_int_equal(first, 1);
        assert_int_equal(last, 1);
    }
    btt_metainfo_piece_files(mi, 6, &first, &last); /* 98304..100101 */
    assert_int_equal(first, 1);
    assert_int_equal(last, 2);
    btt_metainfo_free(mi);
}

static void test_url_list_string_and_tiers(void **state)
{
    btt_metainfo *mi;
    btt_error err = {0};
    char *t = NULL;
    assert_true(asprintf(&t,
                         "d8:announce13:http://a/annc4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces%se"
                         "8:url-list13:http://ws/dire",
                         P(1)) >= 0);
    OK(btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err));
    assert_int_equal(mi->num_web_seeds, 1);
    assert_string_equal(mi->web_seeds[0], "http://ws/dir");
    assert_int_equal(mi->num_tiers, 1);
    assert_int_equal(mi->tiers[0].count, 1);
    assert_string_equal(mi->tiers[0].urls[0], "http://a/annc");
    btt_metainfo_free(mi);
    free(t);
}

static void test_tolerant_info_hash_over_raw(void **state)
{
    /* unsorted keys and a leading zero inside info: accepted (tolerant), and the hash covers
     * the bytes exactly as they arrived, not a re-encoding */
    char *info = NULL;
    assert_true(asprintf(&info, "d4:name1:x6:lengthi05e12:piece lengthi16384e6:pieces%se", P(1)) >= 0);
    char *t = NULL;
    assert_true(asprintf(&t, "d4:info%s8:announce8:http://ae", info) >= 0);
    btt_metainfo *mi;
    btt_error err = {0};
    OK(btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err));
    assert_int_equal(mi->total_size, 5);
    assert_hash_of(mi->info_hash, (const uint8_t *)info, strlen(info));
    assert_int_equal(mi->info_len, strlen(info));
    btt_metainfo_free(mi);
    free(t);
    free(info);
}

/* ------------------------------------------------------------------ rejected torrents */

#define SINGLE_TAIL "4:name1:x12:piece lengthi16384e6:pieces%se"

static void test_reject_paths(void **state)
{
    const unsigned PATHERR = CODE(BTT_EPATH);
    expect_reject(PATHERR, "path|..",
                  "d5:filesld6:lengthi10e4:pathl2:..eee" SINGLE_TAIL, P(1));
    expect_reject(PATHERR, "path|..",
                  "d5:filesld6:lengthi10e4:pathl1:a2:..1:beee" SINGLE_TAIL, P(1));
    expect_reject(PATHERR, "path|.",
                  "d5:filesld6:lengthi10e4:pathl1:.eee" SINGLE_TAIL, P(1));
    expect_reject(PATHERR, "path|empty",
                  "d5:filesld6:lengthi10e4:pathl0:3:etceee" SINGLE_TAIL, P(1));
    expect_reject(PATHERR, "path|/",
                  "d5:filesld6:lengthi10e4:pathl4:/etceee" SINGLE_TAIL, P(1));
    expect_reject(PATHERR, "path|/",
                  "d5:filesld6:lengthi10e4:pathl3:a/beee" SINGLE_TAIL, P(1));
    expect_reject(PATHERR, "path|\\",
                  "d5:filesld6:lengthi10e4:pathl3:a\\beee" SINGLE_TAIL, P(1));
    /* a component of 256 bytes */
    char longc[300];
    memset(longc, 'n', 256);
    longc[256] = '\0';
    expect_reject(PATHERR, "path|long|255",
                  "d5:filesld6:lengthi10e4:pathl256:%seee" SINGLE_TAIL, longc, P(1));
    /* a whole path longer than 4095 bytes (17 components of 250) */
    {
        char comp[260], list[8192] = "";
        memset(comp, 'c', 250);
        comp[250] = '\0';
        for (int i = 0; i < 17; i++) {
            strcat(list, "250:");
            strcat(list, comp);
        }
        expect_reject(PATHERR | CODE(BTT_EMETAINFO), "path|long|4095",
                      "d5:filesld6:lengthi10e4:pathl%seee" SINGLE_TAIL, list, P(1));
    }
    /* the error names the file's index */
    expect_reject(PATHERR, "files[1]|file 1|#1",
                  "d5:filesld6:lengthi10e4:pathl1:aeed6:lengthi10e4:pathl2:..eee" SINGLE_TAIL, P(1));
    /* unsafe name */
    expect_reject(PATHERR, "name", "d6:lengthi10e4:name2:..12:piece lengthi16384e6:pieces%se", P(1));
    expect_reject(PATHERR, "name", "d6:lengthi10e4:name3:a/b12:piece lengthi16384e6:pieces%se", P(1));
    expect_reject(PATHERR | CODE(BTT_EMETAINFO), "name",
                  "d6:lengthi10e4:name0:12:piece lengthi16384e6:pieces%se", P(1));
}

static void test_reject_nul_in_component(void **state)
{
    /* needs raw bytes: "3:a\0b" */
    char *head = NULL;
    assert_true(asprintf(&head, "d8:announce8:http://a4:infod5:filesld6:lengthi10e4:pathl3:a") >= 0);
    char *tail = NULL;
    assert_true(asprintf(&tail, "beee4:name1:x12:piece lengthi16384e6:pieces%see", P(1)) >= 0);
    size_t hl = strlen(head), tl = strlen(tail);
    uint8_t *t = malloc(hl + 1 + tl);
    assert_non_null(t);
    memcpy(t, head, hl);
    t[hl] = '\0';
    memcpy(t + hl + 1, tail, tl);
    btt_metainfo *mi = (btt_metainfo *)(uintptr_t)1;
    btt_error err = {0};
    btt_err rc = btt_metainfo_parse(t, hl + 1 + tl, &mi, &err);
    if (rc == BTT_OK) btt_metainfo_free(mi);
    assert_int_equal(rc, BTT_EPATH);
    assert_null(mi);
    expect_msg(&err, "path|nul");
    free(t);
    free(head);
    free(tail);

    /* and in the name */
    static const char pre[] = "d4:infod6:lengthi10e4:name3:a";
    char *post = NULL;
    assert_true(asprintf(&post, "b12:piece lengthi16384e6:pieces%see", P(1)) >= 0);
    size_t pl = sizeof pre - 1, ql = strlen(post);
    t = malloc(pl + 1 + ql);
    assert_non_null(t);
    memcpy(t, pre, pl);
    t[pl] = '\0';
    memcpy(t + pl + 1, post, ql);
    rc = btt_metainfo_parse(t, pl + 1 + ql, &mi, &err);
    if (rc == BTT_OK) btt_metainfo_free(mi);
    assert_int_equal(rc, BTT_EPATH);
    expect_msg(&err, "name");
    free(t);
    free(post);
}

static void test_reject_empty_path_list(void **state)
{
    expect_reject(CODE(BTT_EPATH) | CODE(BTT_EMETAINFO), "path",
                  "d5:filesld6:lengthi10e4:pathleee" SINGLE_TAIL, P(1));
    expect_reject(CODE(BTT_EMETAINFO) | CODE(BTT_EPATH), "path",
                  "d5:filesld6:lengthi10e4:path1:aee" SINGLE_TAIL, P(1)); /* not a list */
    expect_reject(CODE(BTT_EMETAINFO) | CODE(BTT_EPATH), "path",
                  "d5:filesld6:lengthi10e4:pathli1eeee" SINGLE_TAIL, P(1)); /* component not a string */
}

static void test_reject_pieces(void **state)
{
    const unsigned M = CODE(BTT_EMETAINFO);
    /* not a multiple of 20 */
    expect_reject(M, "pieces", "d6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces19:%.19se", P(1) + 3);
    expect_reject(M, "pieces", "d6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces21:%.20sbe", P(1) + 3);
    expect_reject(M, "pieces", "d6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces0:e");
    /* count does not match the total size: 40000 bytes need 3 pieces */
    expect_reject(M, "pieces", "d6:lengthi40000e4:name1:x12:piece lengthi16384e6:pieces%se", P(2));
    expect_reject(M, "pieces", "d6:lengthi40000e4:name1:x12:piece lengthi16384e6:pieces%se", P(4));
    /* exact multiple: 32768 needs exactly 2 */
    expect_reject(M, "pieces", "d6:lengthi32768e4:name1:x12:piece lengthi16384e6:pieces%se", P(3));
    /* wrong type */
    expect_reject(M, "pieces", "d6:lengthi10e4:name1:x12:piece lengthi16384e6:piecesi5ee");
}

static void test_reject_lengths(void **state)
{
    const unsigned M = CODE(BTT_EMETAINFO);
    expect_reject(M | CODE(BTT_ERANGE), "length|size|empty",
                  "d6:lengthi0e4:name1:x12:piece lengthi16384e6:pieces0:e");
    expect_reject(M | CODE(BTT_ERANGE), "length", "d6:lengthi-1e4:name1:x12:piece lengthi16384e6:pieces%se",
                  P(1));
    expect_reject(M | CODE(BTT_ERANGE), "length",
                  "d5:filesld6:lengthi-5e4:pathl1:aeee" SINGLE_TAIL, P(1));
    expect_reject(M | CODE(BTT_ERANGE), "length",
                  "d5:filesld6:lengthi10e4:pathl1:aeed6:lengthi-5e4:pathl1:beee" SINGLE_TAIL, P(1));
    /* all files empty: total 0 */
    expect_reject(M | CODE(BTT_ERANGE), "length|size|empty",
                  "d5:filesld6:lengthi0e4:pathl1:aeee4:name1:x12:piece lengthi16384e6:pieces0:e");
    /* piece length */
    expect_reject(M | CODE(BTT_ERANGE), "piece length", "d6:lengthi10e4:name1:x12:piece lengthi0e6:pieces%se",
                  P(1));
    expect_reject(M | CODE(BTT_ERANGE), "piece length",
                  "d6:lengthi10e4:name1:x12:piece lengthi-16384e6:pieces%se", P(1));
    expect_reject(M | CODE(BTT_ERANGE) | CODE(BTT_EOVERFLOW), "piece length",
                  "d6:lengthi10e4:name1:x12:piece lengthi4294967296e6:pieces%se", P(1));
    expect_reject(M | CODE(BTT_ERANGE) | CODE(BTT_EOVERFLOW), "piece length",
                  "d6:lengthi10e4:name1:x12:piece lengthi4294983680e6:pieces%se", P(1)); /* 2^32 + 16384 */
}

static void test_reject_overflow(void **state)
{
    const unsigned M = CODE(BTT_EMETAINFO) | CODE(BTT_EOVERFLOW) | CODE(BTT_ERANGE) | CODE(BTT_ETOOBIG);
    /* 3 * INT64_MAX overflows uint64 */
    expect_reject(M, "length|size|overflow|total|pieces",
                  "d5:filesld6:lengthi9223372036854775807e4:pathl1:aeed6:lengthi9223372036854775807e4:pathl1:beed"
                  "6:lengthi9223372036854775807e4:pathl1:ceee" SINGLE_TAIL,
                  P(1));
    /* 2 * INT64_MAX fits in uint64 but would need 2^50 pieces */
    expect_reject(M, "length|size|overflow|total|pieces",
                  "d5:filesld6:lengthi9223372036854775807e4:pathl1:aeed6:lengthi9223372036854775807e4:pathl1:beee"
                  SINGLE_TAIL,
                  P(1));
    /* 16384 * (2^32 + 1) bytes: 2^32 + 1 pieces, which wraps to 1 in a uint32 */
    expect_reject(M, "length|size|overflow|total|pieces|many",
                  "d6:lengthi70368744194048e4:name1:x12:piece lengthi16384e6:pieces%se", P(1));
    /* 16384 * 2^32 bytes wraps to 0 pieces */
    expect_reject(M, "length|size|overflow|total|pieces|many",
                  "d6:lengthi70368744177664e4:name1:x12:piece lengthi16384e6:pieces0:e");
}

static void test_reject_missing_fields(void **state)
{
    const unsigned M = CODE(BTT_EMETAINFO);
    btt_metainfo *mi = (btt_metainfo *)(uintptr_t)1;
    btt_error err = {0};

    /* no info at all */
    const char *t = "d8:announce8:http://ae";
    assert_int_equal(btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err), BTT_EMETAINFO);
    assert_null(mi);
    expect_msg(&err, "info");
    /* info is not a dict */
    t = "d4:info3:abce";
    assert_int_equal(btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err), BTT_EMETAINFO);
    expect_msg(&err, "info");
    /* top level is not a dict */
    t = "li1ee";
    assert_int_equal(btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err), BTT_EMETAINFO);
    /* not bencoding at all */
    t = "<html>not a torrent</html>";
    btt_err rc = btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err);
    assert_true(rc == BTT_EBENCODE || rc == BTT_EMETAINFO);
    assert_int_equal(btt_metainfo_parse((const uint8_t *)"", 0, &mi, &err) != BTT_OK, 1);
    /* a truncated torrent */
    t = "d4:infod6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces20:aaaa";
    rc = btt_metainfo_parse((const uint8_t *)t, strlen(t), &mi, &err);
    assert_true(rc == BTT_EBENCODE || rc == BTT_EMETAINFO);
    assert_null(mi);

    expect_reject(M, "name", "d6:lengthi10e12:piece lengthi16384e6:pieces%se", P(1));
    expect_reject(M, "name", "d6:lengthi10e4:namei5e12:piece lengthi16384e6:pieces%se", P(1));
    expect_reject(M, "piece length", "d6:lengthi10e4:name1:x6:pieces%se", P(1));
    expect_reject(M, "piece length", "d6:lengthi10e4:name1:x12:piece length2:106:pieces%se", P(1));
    expect_reject(M, "pieces", "d6:lengthi10e4:name1:x12:piece lengthi16384ee");
    expect_reject(M, "length|files", "d4:name1:x12:piece lengthi16384e6:pieces%se", P(1));
    expect_reject(M, "length", "d6:length2:104:name1:x12:piece lengthi16384e6:pieces%se", P(1));
    expect_reject(M, "files", "d5:filesle" SINGLE_TAIL, P(1));
    expect_reject(M, "files", "d5:files3:abc" SINGLE_TAIL, P(1));
    expect_reject(M, "files", "d5:filesli5ee" SINGLE_TAIL, P(1));
    expect_reject(M, "length", "d5:filesld4:pathl1:aeee" SINGLE_TAIL, P(1));
    expect_reject(M | CODE(BTT_EPATH), "path", "d5:filesld6:lengthi10eee" SINGLE_TAIL, P(1));
}

/* ------------------------------------------------------------------ auto piece length */

static void test_auto_piece_length(void **state)
{
    const uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB, TiB = 1024 * GiB;
    assert_int_equal(btt_create_auto_piece_length(0), 16 * KiB);
    assert_int_equal(btt_create_auto_piece_length(1), 16 * KiB);
    assert_int_equal(btt_create_auto_piece_length(1 * MiB), 16 * KiB);
    assert_int_equal(btt_create_auto_piece_length(32 * MiB), 16 * KiB);
    assert_int_equal(btt_create_auto_piece_length(64 * MiB), 32 * KiB);
    assert_int_equal(btt_create_auto_piece_length(1 * GiB), 512 * KiB);
    assert_int_equal(btt_create_auto_piece_length(2 * GiB), 1 * MiB);
    assert_int_equal(btt_create_auto_piece_length(32 * GiB), 16 * MiB);
    assert_int_equal(btt_create_auto_piece_length(1 * TiB), 16 * MiB);
    assert_int_equal(btt_create_auto_piece_length(UINT64_MAX), 16 * MiB);

    /* power-of-two sizes in the middle give exactly 2048 pieces */
    for (uint64_t size = 32 * MiB; size <= 32 * GiB; size *= 2)
        assert_int_equal(size / btt_create_auto_piece_length(size), 2048);

    /* general properties */
    uint32_t prev = 0;
    for (uint64_t size = 1; size < 4 * TiB; size = size * 3 / 2 + 12345) {
        uint32_t pl = btt_create_auto_piece_length(size);
        assert_true(pl >= 16 * KiB && pl <= 16 * MiB);
        assert_int_equal(pl & (pl - 1), 0); /* power of two */
        assert_true(pl >= prev);           /* monotonic */
        prev = pl;
        uint64_t n = btt_div_ceil_u64(size, pl);
        if (pl < 16 * MiB) assert_true(n <= 4096);  /* "about 2048" */
        if (pl > 16 * KiB) assert_true(n > 1024);   /* not needlessly large */
    }
}

/* ------------------------------------------------------------------ creation */

static char *tmp_root;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup_tmp(void **state)
{
    char tmpl[] = "/tmp/btt-test-meta-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    tmp_root = strdup(tmpl);
    return tmp_root ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    if (tmp_root) {
        nftw(tmp_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(tmp_root);
        tmp_root = NULL;
    }
    return 0;
}

static char *pathf(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = vfmt(f, ap);
    va_end(ap);
    return s;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

typedef struct prog {
    unsigned calls;
    uint32_t max_done, total;
} prog;

static void on_progress(void *ud, uint32_t done, uint32_t total)
{
    prog *pr = ud;
    pr->calls++;
    if (done > pr->max_done) pr->max_done = done;
    pr->total = total;
}

static void test_create_multi(void **state)
{
    char *dir = pathf("%s/payload", tmp_root);
    char *sub = pathf("%s/payload/sub", tmp_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);

    /* sorted by path: ".hidden" < "a.bin" < "sub/b.bin" */
    size_t lens[] = {5, 40000, 100000};
    const char *names[] = {".hidden", "a.bin", "sub/b.bin"};
    size_t total = lens[0] + lens[1] + lens[2];
    uint8_t *all = malloc(total);
    assert_non_null(all);
    fill_pseudo(all, total, 7);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        char *p = pathf("%s/%s", dir, names[i]);
        write_file(p, all + off, lens[i]);
        off += lens[i];
        free(p);
    }

    const char *trackers[] = {"http://t1.example/announce", "udp://t2.example:80"};
    const char *seeds[] = {"http://ws.example/"};
    prog pr = {0};
    btt_create_opts o = {
        .piece_length = 16384,
        .trackers = trackers,
        .num_trackers = 2,
        .web_seeds = seeds,
        .num_web_seeds = 1,
        .is_private = true,
        .comment = "a comment",
        .created_by = "unit-test",
        .creation_date = 1234567890,
        .progress = on_progress,
        .progress_ud = &pr,
    };
    btt_buf out;
    btt_buf_init(&out, 64u << 20);
    btt_metainfo *mi = NULL;
    btt_error err = {0};
    btt_err rc = btt_metainfo_create(dir, &o, &out, &mi, &err);
    if (rc != BTT_OK) fail_msg("create: %s: %s", btt_err_name(rc), err.msg);
    assert_non_null(mi);
    assert_true(pr.calls >= 1);
    assert_int_equal(pr.max_done, 9);
    assert_int_equal(pr.total, 9);

    /* the output is strict, canonical bencoding */
    btt_ben_doc *doc = NULL;
    OK(btt_ben_decode(out.data, out.len, 0, NULL, &doc, &err));
    btt_ben_free(doc);

    btt_metainfo *back = NULL;
    OK(btt_metainfo_parse(out.data, out.len, &back, &err));
    assert_memory_equal(back->info_hash, mi->info_hash, 20);
    assert_hash_of(back->info_hash, back->info_raw, back->info_len);

    assert_string_equal(back->name, "payload");
    assert_true(back->multi_file);
    assert_true(back->is_private);
    assert_int_equal(back->piece_length, 16384);
    assert_int_equal(back->total_size, total);
    assert_int_equal(back->num_pieces, 9);
    assert_int_equal(back->num_files, 3);
    off = 0;
    for (int i = 0; i < 3; i++) {
        assert_string_equal(back->files[i].path, names[i]);
        assert_int_equal(back->files[i].length, lens[i]);
        assert_int_equal(back->files[i].offset, off);
        off += lens[i];
    }
    for (uint32_t i = 0; i < back->num_pieces; i++) {
        uint8_t md[20];
        uint64_t start = (uint64_t)i * 16384;
        btt_sha1(all + start, btt_metainfo_piece_size(back, i), md);
        assert_memory_equal(back->pieces + 20 * i, md, 20);
    }
    assert_int_equal(back->num_tiers, 2);
    assert_int_equal(back->tiers[0].count, 1);
    assert_string_equal(back->tiers[0].urls[0], trackers[0]);
    assert_int_equal(back->tiers[1].count, 1);
    assert_string_equal(back->tiers[1].urls[0], trackers[1]);
    assert_int_equal(back->num_web_seeds, 1);
    assert_string_equal(back->web_seeds[0], seeds[0]);
    assert_string_equal(back->comment, "a comment");
    assert_string_equal(back->created_by, "unit-test");
    assert_true(back->creation_date == 1234567890);

    /* and the data verifies */
    btt_storage *st = NULL;
    OK(btt_storage_open(back, tmp_root, BTT_STORAGE_READONLY, &st, &err));
    btt_bitfield have;
    OK(btt_bitfield_init(&have, back->num_pieces));
    btt_scan_result res = {0};
    OK(btt_hash_scan(st, back, &have, NULL, &res, NULL, NULL, &err));
    assert_int_equal(res.good, 9);
    assert_int_equal(res.bad, 0);
    assert_int_equal(res.missing, 0);
    assert_int_equal(res.io_errors, 0);
    assert_true(btt_bitfield_full(&have));
    btt_bitfield_free(&have);
    btt_storage_close(st);

    btt_metainfo_free(back);
    btt_metainfo_free(mi);
    btt_buf_free(&out);
    free(all);
    free(dir);
    free(sub);
}

static void test_create_single(void **state)
{
    char *file = pathf("%s/single.dat", tmp_root);
    size_t n = 50000;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    fill_pseudo(data, n, 9);
    write_file(file, data, n);

    btt_create_opts o = {0}; /* automatic piece length, default creator, date now */
    btt_buf out;
    btt_buf_init(&out, 64u << 20);
    btt_metainfo *mi = NULL;
    btt_error err = {0};
    time_t before = time(NULL);
    btt_err rc = btt_metainfo_create(file, &o, &out, &mi, &err);
    if (rc != BTT_OK) fail_msg("create: %s: %s", btt_err_name(rc), err.msg);

    btt_metainfo *back = NULL;
    OK(btt_metainfo_parse(out.data, out.len, &back, &err));
    assert_memory_equal(back->info_hash, mi->info_hash, 20);
    assert_false(back->multi_file);
    assert_string_equal(back->name, "single.dat");
    assert_int_equal(back->piece_length, 16384);
    assert_int_equal(back->num_pieces, 4);
    assert_int_equal(back->total_size, n);
    assert_false(back->is_private);
    assert_non_null(back->created_by);
    assert_true(strncmp(back->created_by, "btt/", 4) == 0);
    assert_true(back->creation_date >= before - 5 && back->creation_date <= time(NULL) + 5);
    assert_int_equal(back->num_tiers, 0);
    for (uint32_t i = 0; i < back->num_pieces; i++) {
        uint8_t md[20];
        btt_sha1(data + (size_t)i * 16384, btt_metainfo_piece_size(back, i), md);
        assert_memory_equal(back->pieces + 20 * i, md, 20);
    }

    btt_storage *st = NULL;
    OK(btt_storage_open(back, tmp_root, BTT_STORAGE_READONLY, &st, &err));
    btt_bitfield have;
    OK(btt_bitfield_init(&have, back->num_pieces));
    btt_scan_result res = {0};
    OK(btt_hash_scan(st, back, &have, NULL, &res, NULL, NULL, &err));
    assert_int_equal(res.good, 4);
    assert_int_equal(have.count, 4);
    btt_bitfield_free(&have);
    btt_storage_close(st);
    btt_metainfo_free(back);
    btt_metainfo_free(mi);

    /* negative creation date: omitted; mi_out may be NULL */
    o.creation_date = -1;
    btt_buf_reset(&out);
    OK(btt_metainfo_create(file, &o, &out, NULL, &err));
    OK(btt_metainfo_parse(out.data, out.len, &back, &err));
    assert_true(back->creation_date == 0);
    assert_null(memmem(out.data, out.len, "creation date", 13));
    btt_metainfo_free(back);

    /* a missing source */
    char *missing = pathf("%s/does-not-exist", tmp_root);
    btt_buf_reset(&out);
    mi = (btt_metainfo *)(uintptr_t)1;
    assert_int_equal(btt_metainfo_create(missing, &o, &out, &mi, &err), BTT_ENOENT);
    assert_non_null(strstr(err.msg, "does-not-exist"));

    btt_buf_free(&out);
    free(missing);
    free(data);
    free(file);
}

static void test_create_empty(void **state)
{
    /* nothing to share: an empty directory, an empty file, a directory of empty files */
    char *dir = pathf("%s/emptydir", tmp_root);
    char *file = pathf("%s/empty.bin", tmp_root);
    char *dir2 = pathf("%s/zeros", tmp_root);
    char *z = pathf("%s/zeros/z", tmp_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(dir2, 0755), 0);
    write_file(file, NULL, 0);
    write_file(z, NULL, 0);
    const char *srcs[] = {dir, file, dir2};
    for (int i = 0; i < 3; i++) {
        btt_create_opts o = {0};
        btt_buf out;
        btt_buf_init(&out, 1 << 20);
        btt_metainfo *mi = NULL;
        btt_error err = {0};
        btt_err rc = btt_metainfo_create(srcs[i], &o, &out, &mi, &err);
        if (rc == BTT_OK) {
            btt_metainfo_free(mi);
            fail_msg("created a torrent of nothing from %s", srcs[i]);
        }
        assert_true(rc == BTT_EINVAL || rc == BTT_EMETAINFO);
        assert_null(mi);
        assert_non_null(strstr(err.msg, srcs[i]));
        btt_buf_free(&out);
    }
    free(dir);
    free(file);
    free(dir2);
    free(z);
}

static void test_load_file(void **state)
{
    char *t = NULL;
    assert_true(asprintf(&t, "d4:infod6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces%see", P(1)) >= 0);
    char *path = pathf("%s/x.torrent", tmp_root);
    write_file(path, (const uint8_t *)t, strlen(t));

    btt_metainfo *mi = NULL;
    btt_error err = {0};
    OK(btt_metainfo_load(path, &mi, &err));
    assert_int_equal(mi->total_size, 10);
    const char *info = strstr(t, "4:info") + 6;
    assert_hash_of(mi->info_hash, (const uint8_t *)info, strlen(info) - 1);
    btt_metainfo_free(mi);

    char *missing = pathf("%s/nope.torrent", tmp_root);
    mi = (btt_metainfo *)(uintptr_t)1;
    assert_int_equal(btt_metainfo_load(missing, &mi, &err), BTT_ENOENT);
    assert_null(mi);
    assert_non_null(strstr(err.msg, "nope.torrent"));

    /* a broken file: the error names the file */
    write_file(path, (const uint8_t *)"d4:infoi1ee", 11);
    assert_int_not_equal(btt_metainfo_load(path, &mi, &err), BTT_OK);
    assert_non_null(strstr(err.msg, "x.torrent"));

    free(missing);
    free(path);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_multi_file),
        cmocka_unit_test(test_piece_files_skip_empty),
        cmocka_unit_test(test_url_list_string_and_tiers),
        cmocka_unit_test(test_tolerant_info_hash_over_raw),
        cmocka_unit_test(test_reject_paths),
        cmocka_unit_test(test_reject_nul_in_component),
        cmocka_unit_test(test_reject_empty_path_list),
        cmocka_unit_test(test_reject_pieces),
        cmocka_unit_test(test_reject_lengths),
        cmocka_unit_test(test_reject_overflow),
        cmocka_unit_test(test_reject_missing_fields),
        cmocka_unit_test(test_auto_piece_length),
        cmocka_unit_test_setup_teardown(test_create_multi, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_create_single, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_create_empty, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_file, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
