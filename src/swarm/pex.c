/* pex.c - BEP 11 (ut_pex) message codec. */
#include "btt/pex.h"

#include <string.h>

#include "btt/bencode.h"

/* A compact list under key (entry bytes each) with the optional flags under fkey. */
static btt_err take_list(const btt_ben *root, const char *key, const char *fkey, size_t entry, btt_pex_msg *out,
                         bool added, btt_error *err)
{
    const btt_ben *n = btt_ben_dict_get(root, key);
    if (!n) return BTT_OK;
    const uint8_t *p, *f = NULL;
    size_t len, flen = 0;
    if (!btt_ben_get_str(n, &p, &len) || len % entry)
        return btt_error_set(err, BTT_EPROTO, "ut_pex: \"%s\" is not a list of %zu-byte peers", key, entry);
    size_t count = len / entry;
    if (fkey && btt_ben_get_str(btt_ben_dict_get(root, fkey), &f, &flen) && flen != count) f = NULL;
    for (size_t i = 0; i < count; i++) {
        size_t *num = added ? &out->num_added : &out->num_dropped;
        if (*num == BTT_PEX_PARSE_MAX) {
            out->truncated = true;
            break;
        }
        btt_addr a;
        if (entry == 6) btt_addr_from_compact4(p + i * entry, &a);
        else btt_addr_from_compact6(p + i * entry, &a);
        if (a.port == 0) continue;
        if (added) out->added[(*num)++] = (btt_pex_peer){a, f ? f[i] : 0};
        else out->dropped[(*num)++] = a;
    }
    return BTT_OK;
}

btt_err btt_pex_parse(const uint8_t *p, size_t len, btt_pex_msg *out, btt_error *err)
{
    out->num_added = out->num_dropped = 0;
    out->truncated = false;
    if (len > BTT_PEX_MAX_MESSAGE) return btt_error_set(err, BTT_EPROTO, "ut_pex: message of %zu bytes", len);
    btt_ben_limits lim = {4, 64, len};
    btt_ben_doc *doc;
    if (btt_ben_decode(p, len, BTT_BEN_TOLERANT, &lim, &doc, err)) {
        if (err) err->code = BTT_EPROTO;
        return BTT_EPROTO;
    }
    const btt_ben *root = btt_ben_root(doc);
    btt_err e = BTT_OK;
    if (btt_ben_typeof(root) != BTT_BEN_DICT) e = btt_error_set(err, BTT_EPROTO, "ut_pex: not a dictionary");
    if (!e) e = take_list(root, "added", "added.f", 6, out, true, err);
    if (!e) e = take_list(root, "added6", "added6.f", 18, out, true, err);
    if (!e) e = take_list(root, "dropped", NULL, 6, out, false, err);
    if (!e) e = take_list(root, "dropped6", NULL, 18, out, false, err);
    btt_ben_free(doc);
    if (e) out->num_added = out->num_dropped = 0;
    return e;
}

/* The compact addresses of one family, and optionally their flags. */
static btt_err put_list(btt_buf *b, const char *key, const char *fkey, uint8_t family, const btt_pex_peer *peers,
                        const btt_addr *addrs, size_t n, bool always)
{
    uint8_t buf[BTT_PEX_MAX_ADDED * 18], flags[BTT_PEX_MAX_ADDED];
    size_t len = 0, count = 0;
    for (size_t i = 0; i < n && i < BTT_PEX_MAX_ADDED; i++) {
        const btt_addr *a = peers ? &peers[i].addr : &addrs[i];
        if (a->family != family) continue;
        len += btt_addr_to_compact(a, buf + len);
        if (peers) flags[count] = peers[i].flags;
        count++;
    }
    if (!count && !always) return BTT_OK;
    btt_err e = btt_benc_cstr(b, key);
    e |= btt_benc_str(b, buf, len);
    if (fkey) {
        e |= btt_benc_cstr(b, fkey);
        e |= btt_benc_str(b, flags, count);
    }
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_pex_build(btt_buf *b, const btt_pex_peer *added, size_t num_added, const btt_addr *dropped,
                      size_t num_dropped)
{
    /* keys in sorted order: added, added.f, added6, added6.f, dropped, dropped6 */
    btt_err e = btt_benc_dict(b);
    e |= put_list(b, "added", "added.f", 4, added, NULL, num_added, true);
    e |= put_list(b, "added6", "added6.f", 6, added, NULL, num_added, false);
    e |= put_list(b, "dropped", NULL, 4, NULL, dropped, num_dropped, true);
    e |= put_list(b, "dropped6", NULL, 6, NULL, dropped, num_dropped, false);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}
