/* resume.c - verified-piece state saved across restarts, trusted only while the files
 * are unchanged (same size and modification time as when it was saved). */
#include "btt/resume.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btt/bencode.h"
#include "btt/fsutil.h"

#define RESUME_VERSION 1
#define MAX_RESUME_BYTES (256u << 20)

static btt_err encode(const btt_metainfo *mi, btt_storage *st, const btt_bitfield *have, btt_buf *b)
{
    btt_err e = 0;
    e |= btt_benc_dict(b);
    e |= btt_benc_cstr(b, "files");
    e |= btt_benc_list(b);
    for (size_t i = 0; i < mi->num_files; i++) {
        uint64_t size = 0;
        int64_t mtime = 0;
        bool exists = !(mi->files[i].attr & BTT_FILE_PAD) && btt_storage_file_stat(st, i, &size, &mtime);
        e |= btt_benc_list(b);
        e |= btt_benc_int(b, exists ? (int64_t)size : -1);
        e |= btt_benc_int(b, exists ? mtime : 0);
        e |= btt_benc_end(b);
    }
    e |= btt_benc_end(b);
    e |= btt_benc_cstr(b, "info-hash");
    e |= btt_benc_str(b, mi->info_hash, BTT_SHA1_LEN);
    e |= btt_benc_cstr(b, "pieces");
    e |= btt_benc_str(b, have->bits, btt_bitfield_bytes(have->nbits));
    e |= btt_benc_cstr(b, "version");
    e |= btt_benc_int(b, RESUME_VERSION);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_resume_save(const char *path, const btt_metainfo *mi, btt_storage *st, const btt_bitfield *have,
                        btt_error *err)
{
    btt_buf b;
    btt_buf_init(&b, MAX_RESUME_BYTES);
    if (encode(mi, st, have, &b)) {
        btt_buf_free(&b);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    btt_err e = BTT_OK;
    if (!tmp) {
        e = btt_error_set(err, BTT_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = btt_error_errno(err, errno, tmp);
        goto out;
    }
    if (btt_write_all(fd, b.data, b.len) || fsync(fd) != 0) {
        e = btt_error_errno(err, errno, tmp);
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        e = btt_error_errno(err, errno, path);
        unlink(tmp);
        goto out;
    }
    e = btt_fsync_parent(path, err); /* make the rename itself durable */
out:
    free(tmp);
    btt_buf_free(&b);
    return e;
}

static btt_err read_file(const char *path, uint8_t **data, size_t *len, btt_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return btt_error_errno(err, errno, path);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size > MAX_RESUME_BYTES) {
        close(fd);
        return btt_error_set(err, BTT_ERESUME, "%s: unreadable or too large", path);
    }
    *data = malloc((size_t)sb.st_size + 1);
    if (!*data) {
        close(fd);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    ssize_t r = pread(fd, *data, (size_t)sb.st_size, 0);
    close(fd);
    if (r != sb.st_size) {
        free(*data);
        return btt_error_set(err, BTT_ERESUME, "%s: short read", path);
    }
    *len = (size_t)r;
    return BTT_OK;
}

/* Moves every claimed piece that holds a byte of file i from have to recheck. */
static void drop_file(const btt_metainfo *mi, size_t i, btt_bitfield *have, btt_bitfield *recheck)
{
    const btt_file *f = &mi->files[i];
    if (f->length == 0) return;
    uint32_t first = (uint32_t)(f->offset / mi->piece_length);
    uint32_t last = (uint32_t)((f->offset + f->length - 1) / mi->piece_length);
    for (uint32_t p = first; p <= last; p++) {
        if (recheck && btt_bitfield_get(have, p)) btt_bitfield_set(recheck, p);
        btt_bitfield_clear(have, p);
    }
}

btt_err btt_resume_load(const char *path, const btt_metainfo *mi, btt_storage *st, btt_bitfield *have,
                        btt_bitfield *recheck, btt_error *err)
{
    btt_bitfield_clear_all(have);
    if (recheck) btt_bitfield_clear_all(recheck);
    uint8_t *data = NULL;
    size_t len = 0;
    btt_err e = read_file(path, &data, &len, err);
    if (e) return e;
    btt_ben_doc *doc = NULL;
    btt_ben_limits lim = {8, 4 * mi->num_files + 64, MAX_RESUME_BYTES};
    if ((e = btt_ben_decode(data, len, 0, &lim, &doc, err))) {
        btt_error_prefix(err, "%s", path);
        e = BTT_ERESUME;
        if (err) err->code = e;
        goto out;
    }
    const btt_ben *root = btt_ben_root(doc);
    const uint8_t *p;
    size_t n;
    int64_t version;
    if (!btt_ben_get_int(btt_ben_dict_get(root, "version"), &version) || version != RESUME_VERSION) {
        e = btt_error_set(err, BTT_ERESUME, "%s: unknown resume format version", path);
        goto out;
    }
    if (!btt_ben_get_str(btt_ben_dict_get(root, "info-hash"), &p, &n) || n != BTT_SHA1_LEN ||
        memcmp(p, mi->info_hash, BTT_SHA1_LEN) != 0) {
        e = btt_error_set(err, BTT_ERESUME, "%s: resume data is for another torrent", path);
        goto out;
    }
    const btt_ben *files = btt_ben_dict_get(root, "files");
    if (btt_ben_count(files) != mi->num_files || btt_ben_typeof(files) != BTT_BEN_LIST) {
        e = btt_error_set(err, BTT_ERESUME, "%s: file list does not match the torrent", path);
        goto out;
    }
    if (!btt_ben_get_str(btt_ben_dict_get(root, "pieces"), &p, &n) || btt_bitfield_load(have, p, n, NULL)) {
        e = btt_error_set(err, BTT_ERESUME, "%s: piece bitfield does not match the torrent", path);
        goto out;
    }
    size_t i = 0;
    for (const btt_ben *f = btt_ben_list_first(files); f; f = btt_ben_next(f), i++) {
        int64_t rsize, rmtime;
        const btt_ben *a = btt_ben_list_first(f);
        if (!btt_ben_get_int(a, &rsize) || !btt_ben_get_int(btt_ben_next(a), &rmtime)) {
            btt_bitfield_clear_all(have);
            if (recheck) btt_bitfield_clear_all(recheck);
            e = btt_error_set(err, BTT_ERESUME, "%s: damaged file entry %zu", path, i);
            goto out;
        }
        if (mi->files[i].attr & BTT_FILE_PAD) continue;
        uint64_t size;
        int64_t mtime;
        bool exists = btt_storage_file_stat(st, i, &size, &mtime);
        if (!exists || rsize < 0 || (uint64_t)rsize != size || rmtime != mtime || size < mi->files[i].length)
            drop_file(mi, i, have, recheck);
    }
out:
    btt_ben_free(doc);
    free(data);
    return e;
}
