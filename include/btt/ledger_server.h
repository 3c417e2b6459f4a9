/* btt/ledger_server.h - the ledger's HTTP/JSON API (docs/ledger-api.md) on libmicrohttpd.
 *
 * The server owns no ledger: it serves a btt_ledger_db (btt/ledger_store.h) opened by the caller.
 * HTTP requests are handled on a small pool of libmicrohttpd epoll threads; the database is
 * single-threaded, so every access to it is serialized by one mutex. Mutating operations go
 * through a submit queue drained by one committer thread: whatever arrived while a commit was in
 * progress becomes the next batch (one btt_ledger_db_submit, one fsync: group commit), and each
 * request is answered only after its batch is durable. POST /v1/batch carries up to
 * BTT_LEDGER_SERVER_BATCH_REQUESTS operations in one HTTP request, each with its own request id
 * and receipt, answered together once the last of them is durable.
 *
 * Idempotency: POST /v1/ops carries a client-chosen request id; the last
 * BTT_LEDGER_SERVER_IDEMPOTENCY_DEFAULT ids (in memory only, lost on restart) map to their
 * results. */
#ifndef BTT_LEDGER_SERVER_H
#define BTT_LEDGER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"
#include "btt/ledger_store.h"

#define BTT_LEDGER_SERVER_LISTEN_DEFAULT "127.0.0.1:8480"
#define BTT_LEDGER_SERVER_BODY_MAX 16384 /* POST /v1/ops bodies above this are refused (413) */
#define BTT_LEDGER_SERVER_BATCH_REQUESTS 256 /* operations in one POST /v1/batch at most */
#define BTT_LEDGER_SERVER_BATCH_BODY_MAX (BTT_LEDGER_SERVER_BATCH_REQUESTS * 1280) /* its body at most */
#define BTT_LEDGER_SERVER_IDEMPOTENCY_DEFAULT 100000
#define BTT_LEDGER_SERVER_BATCH_MAX 4096 /* operations per group commit at most */

typedef struct btt_ledger_server_config {
    const char *listen;        /* "ADDR:PORT" or "[IPV6]:PORT"; NULL: the default; port 0: any free one */
    size_t idempotency_max;    /* request ids remembered; 0: the default */
    unsigned max_connections;  /* 0: 256 */
} btt_ledger_server_config;

typedef struct btt_ledger_server btt_ledger_server; /* opaque */

/* Starts serving db (which the server uses but does not own: keep it open until stop returns).
 * BTT_EINVAL for a bad listen address, BTT_ENET if it cannot listen there, BTT_ENOMEM.
 * *out: btt_ledger_server_stop. */
BTT_WUR btt_err btt_ledger_server_start(btt_ledger_db *db, const btt_ledger_server_config *cfg,
                                        btt_ledger_server **out, btt_error *err);

/* The address actually listened on, "127.0.0.1:43121" (the real port when 0 was asked). */
const char *btt_ledger_server_address(const btt_ledger_server *s);

/* Group commits so far and operations they carried (for tests and monitoring). */
void btt_ledger_server_stats(btt_ledger_server *s, uint64_t *commits, uint64_t *ops);

/* Stops accepting connections, lets the requests in progress finish (their queued operations are
 * committed and answered), stops the committer and frees s. The db is left open. NULL-safe. */
void btt_ledger_server_stop(btt_ledger_server *s);

#endif
