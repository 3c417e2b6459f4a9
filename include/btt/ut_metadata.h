/* btt/ut_metadata.h - the metadata exchange extension (BEP 9) messages. Sans I/O.
 *
 * BEP 9: "The metadata is handled in blocks of 16KiB ... {'msg_type': 0, 'piece': 0} request,
 * {'msg_type': 1, 'piece': 0, 'total_size': 3425} data (the piece follows the dictionary),
 * {'msg_type': 2, 'piece': 0} reject." */
#ifndef BTT_UT_METADATA_H
#define BTT_UT_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "btt/buf.h"
#include "btt/error.h"

#define BTT_METADATA_PIECE (16u * 1024u)
#define BTT_METADATA_MAX (16u << 20) /* largest info dictionary we accept or serve */

enum { BTT_METADATA_REQUEST = 0, BTT_METADATA_DATA = 1, BTT_METADATA_REJECT = 2 };

typedef struct btt_metadata_msg {
    int type;              /* BTT_METADATA_* */
    uint32_t piece;
    int64_t total_size;    /* data: the whole metadata's size; -1 otherwise */
    const uint8_t *data;   /* data: the piece, pointing into the input */
    size_t data_len;
} btt_metadata_msg;

/* Parses an extended message's payload. BTT_EPROTO for anything malformed: not a dictionary,
 * a missing or negative field, an unknown msg_type, data longer than 16 KiB, or bytes after the
 * dictionary in a message other than data. */
BTT_WUR btt_err btt_metadata_parse(const uint8_t *p, size_t len, btt_metadata_msg *out, btt_error *err);

/* Appends a request or reject payload. */
BTT_WUR btt_err btt_metadata_build(btt_buf *b, int type, uint32_t piece);
/* Appends a data payload: the dictionary, then data_len bytes of the piece. */
BTT_WUR btt_err btt_metadata_build_data(btt_buf *b, uint32_t piece, uint64_t total_size, const uint8_t *data,
                                        size_t data_len);

/* Number of 16 KiB pieces of a metadata size. */
static inline uint32_t btt_metadata_pieces(uint64_t size)
{
    return (uint32_t)((size + BTT_METADATA_PIECE - 1) / BTT_METADATA_PIECE);
}

#endif
