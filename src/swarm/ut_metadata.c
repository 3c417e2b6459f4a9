/* ut_metadata.c - BEP 9 message codec. */
#include "btt/ut_metadata.h"

#include "btt/bencode.h"

btt_err btt_metadata_parse(const uint8_t *p, size_t len, btt_metadata_msg *out, btt_error *err)
{
    out->type = -1;
    out->piece = 0;
    out->total_size = -1;
    out->data = NULL;
    out->data_len = 0;
    btt_ben_limits lim = {4, 64, len};
    btt_ben_doc *doc;
    /* tolerant: the piece data follows the dictionary */
    if (btt_ben_decode(p, len, BTT_BEN_TOLERANT, &lim, &doc, err)) {
        if (err) err->code = BTT_EPROTO;
        return BTT_EPROTO;
    }
    const btt_ben *root = btt_ben_root(doc);
    int64_t type, piece, total = -1;
    btt_err e = BTT_OK;
    if (btt_ben_typeof(root) != BTT_BEN_DICT || !btt_ben_get_int(btt_ben_dict_get(root, "msg_type"), &type) ||
        !btt_ben_get_int(btt_ben_dict_get(root, "piece"), &piece) || piece < 0 || piece > UINT32_MAX) {
        e = btt_error_set(err, BTT_EPROTO, "ut_metadata: missing or bad msg_type or piece");
        goto out;
    }
    size_t used = btt_ben_consumed(doc);
    if (type == BTT_METADATA_DATA) {
        if (!btt_ben_get_int(btt_ben_dict_get(root, "total_size"), &total) || total <= 0 ||
            total > BTT_METADATA_MAX || len - used > BTT_METADATA_PIECE) {
            e = btt_error_set(err, BTT_EPROTO, "ut_metadata: bad data message");
            goto out;
        }
        out->data = p + used;
        out->data_len = len - used;
    } else if (type != BTT_METADATA_REQUEST && type != BTT_METADATA_REJECT) {
        e = btt_error_set(err, BTT_EPROTO, "ut_metadata: unknown msg_type %lld", (long long)type);
        goto out;
    } else if (used != len) {
        e = btt_error_set(err, BTT_EPROTO, "ut_metadata: trailing bytes after a request or reject");
        goto out;
    }
    out->type = (int)type;
    out->piece = (uint32_t)piece;
    out->total_size = total;
out:
    btt_ben_free(doc);
    return e;
}

btt_err btt_metadata_build(btt_buf *b, int type, uint32_t piece)
{
    btt_err e = btt_benc_dict(b);
    e |= btt_benc_cstr(b, "msg_type");
    e |= btt_benc_int(b, type);
    e |= btt_benc_cstr(b, "piece");
    e |= btt_benc_int(b, piece);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_metadata_build_data(btt_buf *b, uint32_t piece, uint64_t total_size, const uint8_t *data,
                                size_t data_len)
{
    btt_err e = btt_benc_dict(b);
    e |= btt_benc_cstr(b, "msg_type");
    e |= btt_benc_int(b, BTT_METADATA_DATA);
    e |= btt_benc_cstr(b, "piece");
    e |= btt_benc_int(b, piece);
    e |= btt_benc_cstr(b, "total_size");
    e |= btt_benc_int(b, (int64_t)total_size);
    e |= btt_benc_end(b);
    e |= btt_benc_raw(b, data, data_len);
    return e ? BTT_ENOMEM : BTT_OK;
}
