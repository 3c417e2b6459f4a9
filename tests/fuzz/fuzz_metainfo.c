/* libFuzzer target: .torrent parsing. On success the parsed torrent must be self-consistent:
 * file lengths sum to total_size, offsets are contiguous, num_pieces == ceil(total/piece
 * length), piece sizes add up, piece_files stays in range, every path component is safe,
 * and the info-hash is the SHA-1 of info_raw. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/checked.h"
#include "btt/metainfo.h"
#include "btt/path.h"
#include "btt/sha1.h"
#include "fuzz.h"

static void check_path(const char *path)
{
    size_t n = strlen(path);
    CHECK(n > 0 && n <= 4095);
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        CHECK(btt_path_check_component(p, len, NULL) == BTT_OK);
        if (!slash) break;
        p = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_metainfo *mi = NULL;
    btt_error err;
    btt_err rc = btt_metainfo_parse(data, size, &mi, &err);
    if (rc != BTT_OK) {
        CHECK(mi == NULL);
        CHECK(err.code == rc);
        return 0;
    }
    CHECK(mi != NULL);

    /* name and paths */
    CHECK(mi->name != NULL);
    CHECK(btt_path_check_component(mi->name, strlen(mi->name), NULL) == BTT_OK);
    CHECK(mi->num_files >= 1);
    CHECK(mi->multi_file || mi->num_files == 1);

    /* lengths, offsets, total */
    uint64_t total = 0;
    for (size_t i = 0; i < mi->num_files; i++) {
        const btt_file *f = &mi->files[i];
        CHECK(f->path != NULL);
        check_path(f->path);
        CHECK(f->offset == total);
        CHECK(btt_add_u64(total, f->length, &total));
    }
    CHECK(total == mi->total_size);

    /* pieces */
    CHECK(mi->piece_length > 0);
    CHECK((uint64_t)mi->num_pieces == btt_div_ceil_u64(total, mi->piece_length));
    CHECK(mi->num_pieces == 0 || mi->pieces != NULL);
    uint64_t sum = 0;
    size_t prev_first = 0;
    for (uint32_t i = 0; i < mi->num_pieces; i++) {
        uint32_t ps = btt_metainfo_piece_size(mi, i);
        CHECK(ps > 0 && ps <= mi->piece_length);
        CHECK(i + 1 == mi->num_pieces || ps == mi->piece_length);
        sum += ps;
        size_t first = SIZE_MAX, last = SIZE_MAX;
        btt_metainfo_piece_files(mi, i, &first, &last);
        CHECK(first <= last && last < mi->num_files);
        CHECK(first >= prev_first);
        prev_first = first;
        uint64_t start = (uint64_t)i * mi->piece_length, end = start + ps;
        const btt_file *ff = &mi->files[first], *lf = &mi->files[last];
        CHECK(ff->length > 0 && lf->length > 0);
        CHECK(ff->offset <= start && ff->offset + ff->length > start);
        CHECK(lf->offset < end && lf->offset + lf->length >= end);
    }
    CHECK(sum == total);

    /* info-hash */
    CHECK(mi->info_raw != NULL && mi->info_len > 0 && mi->info_len <= size);
    uint8_t md[BTT_SHA1_LEN];
    btt_sha1(mi->info_raw, mi->info_len, md);
    CHECK(memcmp(md, mi->info_hash, BTT_SHA1_LEN) == 0);
    CHECK(memmem(data, size, mi->info_raw, mi->info_len) != NULL);
    char hex[41];
    btt_metainfo_hash_hex(mi, hex);
    CHECK(strlen(hex) == 40);

    /* trackers and web seeds are real strings */
    for (size_t t = 0; t < mi->num_tiers; t++) {
        CHECK(mi->tiers[t].count > 0);
        for (size_t u = 0; u < mi->tiers[t].count; u++) CHECK(mi->tiers[t].urls[u] != NULL);
    }
    for (size_t w = 0; w < mi->num_web_seeds; w++) CHECK(mi->web_seeds[w] != NULL);

    btt_metainfo_free(mi);
    return 0;
}
