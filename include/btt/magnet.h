/* btt/magnet.h - magnet links (BEP 9 xt=urn:btih, dn, tr, x.pe; BEP 53 so). */
#ifndef BTT_MAGNET_H
#define BTT_MAGNET_H

#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"
#include "btt/sha1.h"

typedef struct btt_magnet {
    uint8_t info_hash[BTT_SHA1_LEN]; /* from 40 hex or 32 base32 characters */
    char *name;          /* dn, percent-decoded; NULL when absent */
    char **trackers;     /* tr, in order, duplicates dropped */
    size_t num_trackers;
    char **peers;        /* x.pe: "host:port" or "[v6]:port" */
    size_t num_peers;
    uint32_t *select;    /* so: file indexes, ranges expanded, sorted, unique */
    size_t num_select;
} btt_magnet;

/* Parses "magnet:?..." (the caller's string is not kept). Unknown parameters are ignored.
 * Limits: 64 KiB of input, 100 trackers, 200 peers, 100,000 selected files. */
BTT_WUR btt_err btt_magnet_parse(const char *uri, btt_magnet **out, btt_error *err);
void btt_magnet_free(btt_magnet *m);

/* Writes a canonical link (hex btih, dn, tr...) as a new string, or NULL if out of memory. */
char *btt_magnet_format(const btt_magnet *m);

#endif
