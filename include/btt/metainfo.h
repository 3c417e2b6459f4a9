/* btt/metainfo.h - .torrent files (BEP 3 v1), single and multi-file.
 *
 * A parsed torrent is a read-only value: the struct is public for reading, owned by the
 * library, and freed whole with btt_metainfo_free. Understands announce-list tiers (BEP 12),
 * private (BEP 27), url-list web seeds (BEP 19) and file attributes incl. padding (BEP 47).
 * Every path is checked for safety (see btt/path.h) while parsing. */
#ifndef BTT_METAINFO_H
#define BTT_METAINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/buf.h"
#include "btt/error.h"
#include "btt/sha1.h"

/* BEP 47 attributes */
enum {
    BTT_FILE_PAD = 1u << 0,     /* 'p' padding: zeros, never written to disk */
    BTT_FILE_EXEC = 1u << 1,    /* 'x' */
    BTT_FILE_HIDDEN = 1u << 2,  /* 'h' */
    BTT_FILE_SYMLINK = 1u << 3, /* 'l' */
};

typedef struct btt_file {
    char *path;        /* relative to the torrent's root, components joined with '/' */
    uint64_t length;
    uint64_t offset;   /* of the file's first byte in the torrent's byte stream */
    unsigned attr;     /* BTT_FILE_* */
} btt_file;

typedef struct btt_tier {
    char **urls;
    size_t count;
} btt_tier;

typedef struct btt_metainfo {
    uint8_t info_hash[BTT_SHA1_LEN];
    char *name;            /* info.name, checked as a safe path component */
    bool multi_file;       /* info.files present: data lives in directory `name` */
    bool is_private;       /* info.private == 1 */
    uint64_t total_size;   /* sum of file lengths, padding included */
    uint32_t piece_length;
    uint32_t num_pieces;
    uint8_t *pieces;       /* num_pieces * 20 bytes */
    btt_file *files;
    size_t num_files;

    btt_tier *tiers;       /* announce-list, or the single announce as one tier */
    size_t num_tiers;
    char **web_seeds;      /* url-list */
    size_t num_web_seeds;
    char *comment;         /* NULL when absent */
    char *created_by;
    int64_t creation_date; /* seconds since 1970; 0 when absent */

    uint8_t *info_raw;     /* the exact bytes of the info dict (for BEP 9 metadata) */
    size_t info_len;
} btt_metainfo;

typedef struct btt_metainfo_limits {
    uint64_t max_torrent_bytes; /* default 64 MiB */
    size_t max_files;           /* default 1,000,000 */
} btt_metainfo_limits;

/* Parses a .torrent held in memory (tolerant bencoding). */
BTT_WUR btt_err btt_metainfo_parse(const uint8_t *p, size_t len, btt_metainfo **out, btt_error *err);
/* Reads and parses a file; the error names the file. */
BTT_WUR btt_err btt_metainfo_load(const char *path, btt_metainfo **out, btt_error *err);
void btt_metainfo_free(btt_metainfo *mi);

/* Size of piece i (the last one may be short). */
uint32_t btt_metainfo_piece_size(const btt_metainfo *mi, uint32_t i);
/* Files touched by piece i: indexes [*first, *last]. Files of length 0 are skipped. */
void btt_metainfo_piece_files(const btt_metainfo *mi, uint32_t i, size_t *first, size_t *last);
/* Lower-case hex info-hash, 41 bytes with NUL. */
void btt_metainfo_hash_hex(const btt_metainfo *mi, char out[41]);

/* ---- creation ---- */
typedef struct btt_create_opts {
    uint32_t piece_length;      /* 0: automatic, see btt_create_auto_piece_length */
    const char *const *trackers; /* each is its own tier, in order */
    size_t num_trackers;
    const char *const *web_seeds;
    size_t num_web_seeds;
    bool is_private;
    const char *comment;        /* NULL: none */
    const char *created_by;     /* NULL: "btt/<version>" */
    int64_t creation_date;      /* 0: now; negative: omit */
    /* progress: called from the calling thread after each batch of hashed pieces */
    void (*progress)(void *ud, uint32_t done, uint32_t total);
    void *progress_ud;
} btt_create_opts;

/* Power of two between 16 KiB and 16 MiB giving at most about 2048 pieces, as common
 * creators do (for 1 GiB: 512 KiB). */
uint32_t btt_create_auto_piece_length(uint64_t total_size);

/* Builds a torrent from a file or a directory (files sorted by path, hidden ones included,
 * symbolic links followed), hashing pieces on all cores. Writes the encoded torrent to out
 * and, if mi_out is non-NULL, returns it parsed. */
BTT_WUR btt_err btt_metainfo_create(const char *path, const btt_create_opts *opts, btt_buf *out,
                                    btt_metainfo **mi_out, btt_error *err);

#endif
