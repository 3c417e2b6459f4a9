/* btt/storage.h - the torrent's byte stream mapped onto files.
 *
 * Data of a single-file torrent lives at DIR/NAME, of a multi-file torrent under DIR/NAME/.
 * Reads and writes are pread/pwrite at absolute offsets of the byte stream and may span
 * files; padding files (BEP 47) read as zeros and are never created. Files are created
 * sparse at their full length on first write, with parent directories. Safe to call from
 * several threads at once (the file-descriptor cache is locked; I/O is not serialized). */
#ifndef BTT_STORAGE_H
#define BTT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"
#include "btt/metainfo.h"

typedef struct btt_storage btt_storage;

enum { BTT_STORAGE_READONLY = 0, BTT_STORAGE_WRITE = 1 };

/* mi must outlive the storage. Opens nothing yet: missing files are only noticed on access. */
BTT_WUR btt_err btt_storage_open(const btt_metainfo *mi, const char *dir, unsigned mode, btt_storage **out,
                                 btt_error *err);
void btt_storage_close(btt_storage *st);

/* Reads len bytes at offset. BTT_ENOENT when a file is missing or shorter than the torrent
 * says (data not there), BTT_EIO on other failures; err names the file. */
BTT_WUR btt_err btt_storage_read(btt_storage *st, uint64_t offset, void *buf, size_t len, btt_error *err);
/* Writes len bytes at offset (write mode only). A full disk is BTT_EIO "No space left on device". */
BTT_WUR btt_err btt_storage_write(btt_storage *st, uint64_t offset, const void *buf, size_t len,
                                  btt_error *err);
/* Flushes written files to stable storage (fdatasync). */
BTT_WUR btt_err btt_storage_sync(btt_storage *st, btt_error *err);

/* Creates file i if it does not exist yet (write mode): how empty files come to exist, since
 * no piece ever writes to them. Padding files are never created. */
BTT_WUR btt_err btt_storage_create_file(btt_storage *st, size_t i, btt_error *err);

/* Full path of file i (owned by the storage). */
const char *btt_storage_file_path(const btt_storage *st, size_t i);

/* Size and modification time (nanoseconds) of file i on disk; false if it does not exist. */
bool btt_storage_file_stat(btt_storage *st, size_t i, uint64_t *size, int64_t *mtime_ns);

#endif
