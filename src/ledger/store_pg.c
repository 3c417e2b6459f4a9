/* store_pg.c - the ledger store on PostgreSQL (btt/ledger_store.h), through libpq.
 *
 * The ledger lives in the session's current schema (normally public) in two tables, as in
 * store_sqlite.c:
 *   meta(key, value)            'application' = 'btt-ledger' and 'schema_version' (decimal text,
 *                               BTT_LEDGER_STORE_PG_SCHEMA) recognise and version it; 'genesis'
 *                               and 'ledger_id' as in SQLite
 *   log(seq, op, now, reason)   one row per accepted operation, seq = 1, 2, ...
 * The session runs with synchronous_commit=on: a commit returns once the server's WAL is flushed
 * (with the server's fsync on, that is an fsync). append is one COPY in binary format, which is
 * one transaction whatever the batch size; replay reads one REPEATABLE READ snapshot through a
 * cursor, FETCH_ROWS rows at a time. One process owns a ledger (as SQLite's flock): a
 * session-level advisory lock on (LOCK_KEY, the schema), released when the session ends. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "btt/ledger_store.h"
#include "ledger/store_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define LOCK_KEY 1651799089 /* 0x62747431, "btt1": the SQLite store's application_id */
#define FETCH_ROWS 1024
/* A btt process killed a moment ago keeps its advisory lock until the server notices its
 * session is gone; open waits this long for that before reporting the ledger in use. */
#define LOCK_TRIES 40
#define LOCK_WAIT_US 50000

typedef struct pg_store {
    btt_ledger_store base;
    PGconn *conn;
    char name[256]; /* "PostgreSQL database 'db' at host:port": no user, no password */
    btt_buf copy;   /* a batch in COPY binary format */
    uint64_t last_seq;
    bool have_genesis;
} pg_store;

/* Takes r (may be NULL) and reports the server's or libpq's message on one line. A connection
 * that is gone is BTT_ENET, anything else BTT_EIO. */
static btt_err pg_fail(pg_store *s, PGresult *r, const char *what, btt_error *err)
{
    char msg[400];
    const char *m = r ? PQresultErrorMessage(r) : "";
    snprintf(msg, sizeof msg, "%s", *m ? m : PQerrorMessage(s->conn));
    PQclear(r);
    char *w = msg; /* runs of newlines, tabs and spaces (libpq's hints) become one space */
    for (const char *p = msg; *p; p++) {
        if (*p != '\n' && *p != '\t' && *p != ' ') *w++ = *p;
        else if (w > msg && w[-1] != ' ') *w++ = ' ';
    }
    while (w > msg && w[-1] == ' ') w--;
    *w = '\0';
    btt_err code = PQstatus(s->conn) == CONNECTION_BAD ? BTT_ENET : BTT_EIO;
    return btt_error_set(err, code, "%s: %s: %s", s->name, what, msg);
}

/* Runs one statement with n binary parameters, results in binary. *out (if non-NULL) gets the
 * result: PQclear it. */
static btt_err query(pg_store *s, const char *sql, int n, const char *const *vals, const int *lens, PGresult **out,
                     btt_error *err)
{
    static const int binary[4] = {1, 1, 1, 1};
    PGresult *r = PQexecParams(s->conn, sql, n, NULL, vals, lens, n ? binary : NULL, 1);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return pg_fail(s, r, sql, err);
    if (out) *out = r;
    else PQclear(r);
    return BTT_OK;
}

static btt_err exec(pg_store *s, const char *sql, btt_error *err)
{
    return query(s, sql, 0, NULL, NULL, NULL, err);
}

static void rollback(pg_store *s)
{
    PGTransactionStatusType t = PQtransactionStatus(s->conn);
    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR) PQclear(PQexec(s->conn, "ROLLBACK"));
}

static int64_t get_be(const PGresult *r, int row, int col, int width)
{
    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != width) return -1;
    const uint8_t *p = (const uint8_t *)PQgetvalue(r, row, col);
    uint64_t v = 0;
    for (int i = 0; i < width; i++) v = v << 8 | p[i];
    return width == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

static void put_be(uint8_t *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* A one-row query whose first column is a bigint. */
static btt_err query_int(pg_store *s, const char *sql, int64_t *out, btt_error *err)
{
    PGresult *r = NULL;
    btt_err e = query(s, sql, 0, NULL, NULL, &r, err);
    if (e != BTT_OK) return e;
    *out = PQntuples(r) == 1 ? get_be(r, 0, 0, 8) : -1;
    PQclear(r);
    return *out >= 0 ? BTT_OK : btt_error_set(err, BTT_EIO, "%s: %s: unexpected result", s->name, sql);
}

/* ------------------------------------------------------------------------ genesis */

static btt_err meta_get(pg_store *s, const char *key, btt_buf *out, bool *found, btt_error *err)
{
    PGresult *r = NULL;
    const char *vals[1] = {key};
    int lens[1] = {(int)strlen(key)};
    btt_err e = query(s, "SELECT value FROM meta WHERE key = $1", 1, vals, lens, &r, err);
    if (e != BTT_OK) return e;
    *found = PQntuples(r) == 1;
    if (*found && btt_buf_append(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0)) != BTT_OK)
        e = btt_error_set(err, BTT_EIO, "%s: database is damaged (meta '%s' is too large)", s->name, key);
    PQclear(r);
    return e;
}

static btt_err meta_put(pg_store *s, const char *key, const btt_buf *v, btt_error *err)
{
    const char *vals[2] = {key, (const char *)v->data};
    int lens[2] = {(int)strlen(key), (int)v->len};
    return query(s, "INSERT INTO meta(key, value) VALUES ($1, $2)", 2, vals, lens, NULL, err);
}

static btt_err pg_genesis(btt_ledger_store *base, const btt_genesis *if_new, btt_genesis *g,
                          uint8_t id[BTT_LEDGER_ID_LEN], btt_error *err)
{
    pg_store *s = (pg_store *)base;
    btt_buf text, idb;
    btt_buf_init(&text, 1 << 16);
    btt_buf_init(&idb, 64);
    bool found = false, found_id = false, store_it = false;
    int64_t last = 0;
    btt_err e = exec(s, "BEGIN", err);
    if (e != BTT_OK) goto out;
    if ((e = meta_get(s, "genesis", &text, &found, err)) != BTT_OK) goto out;
    if ((e = meta_get(s, "ledger_id", &idb, &found_id, err)) != BTT_OK) goto out;
    e = btt_store_genesis_resolve(s->name, if_new, &text, found, &idb, found_id, g, id, &store_it, err);
    if (e != BTT_OK) goto out;
    if (store_it) {
        if ((e = meta_put(s, "genesis", &text, err)) != BTT_OK) goto out;
        if ((e = meta_put(s, "ledger_id", &idb, err)) != BTT_OK) goto out;
    } else if ((e = query_int(s, "SELECT coalesce(max(seq), 0) FROM log", &last, err)) != BTT_OK) {
        goto out;
    }
    if ((e = exec(s, "COMMIT", err)) != BTT_OK) goto out;
    s->last_seq = (uint64_t)last;
    s->have_genesis = true;
out:
    if (e != BTT_OK) rollback(s);
    btt_buf_free(&text);
    btt_buf_free(&idb);
    return e;
}

/* ------------------------------------------------------------------------ append */

/* The batch in COPY's binary format: a header, per row a field count and length-prefixed
 * big-endian fields, a -1 trailer. */
static btt_err copy_data(btt_buf *b, const btt_ledger_store_entry *en, size_t n)
{
    static const uint8_t header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    btt_buf_reset(b);
    btt_err e = btt_buf_append(b, header, sizeof header);
    for (size_t i = 0; i < n && e == BTT_OK; i++) {
        uint8_t row[2 + 4 + 8 + 4], tail[4 + 8 + 4 + 4];
        put_be(row, 4, 2);
        put_be(row + 2, 8, 4);
        put_be(row + 6, en[i].seq, 8);
        put_be(row + 14, en[i].op_len, 4);
        put_be(tail, 8, 4);
        put_be(tail + 4, en[i].now, 8);
        put_be(tail + 12, 4, 4);
        put_be(tail + 16, (uint32_t)en[i].reason, 4);
        if ((e = btt_buf_append(b, row, sizeof row)) == BTT_OK && (e = btt_buf_append(b, en[i].op, en[i].op_len)) == BTT_OK)
            e = btt_buf_append(b, tail, sizeof tail);
    }
    if (e == BTT_OK) e = btt_buf_append(b, (const uint8_t[2]){0xff, 0xff}, 2);
    return e;
}

static btt_err pg_append(btt_ledger_store *base, const btt_ledger_store_entry *en, size_t n, btt_error *err)
{
    static const char copy_sql[] = "COPY log(seq, op, now, reason) FROM STDIN (FORMAT binary)";
    pg_store *s = (pg_store *)base;
    if (!s->have_genesis) return btt_error_set(err, BTT_EINVAL, "%s: append before genesis", s->name);
    if (n == 0) return BTT_OK;
    btt_err e = btt_store_check_batch(s->name, s->last_seq, en, n, err);
    if (e != BTT_OK) return e;
    if (copy_data(&s->copy, en, n) != BTT_OK) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    /* Outside BEGIN, one COPY is one transaction, committed (durably) before its result. */
    PGresult *r = PQexec(s->conn, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) return pg_fail(s, r, copy_sql, err);
    PQclear(r);
    bool sent = PQputCopyData(s->conn, (const char *)s->copy.data, (int)s->copy.len) == 1;
    if (PQputCopyEnd(s->conn, sent ? NULL : "btt: sending the batch failed") != 1) sent = false;
    /* Read every result: the first says whether it committed. */
    e = BTT_OK;
    bool first = true;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (first && PQresultStatus(r) != PGRES_COMMAND_OK) e = pg_fail(s, r, copy_sql, err);
        else PQclear(r);
        first = false;
    }
    if (e == BTT_OK && (first || !sent)) e = pg_fail(s, NULL, copy_sql, err);
    if (e != BTT_OK) return e;
    s->last_seq += n;
    return BTT_OK;
}

/* ------------------------------------------------------------------------ replay */

static btt_err pg_replay(btt_ledger_store *base, btt_ledger_store_replay_cb *cb, void *ud, btt_error *err)
{
    pg_store *s = (pg_store *)base;
    btt_err e = exec(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (e == BTT_OK)
        e = exec(s, "DECLARE replay NO SCROLL CURSOR FOR SELECT seq, op, now, reason FROM log ORDER BY seq", err);
    uint64_t want = 1;
    for (bool more = e == BTT_OK; more;) {
        PGresult *r = NULL;
        if ((e = query(s, "FETCH " STR(FETCH_ROWS) " FROM replay", 0, NULL, NULL, &r, err)) != BTT_OK) break;
        int rows = PQntuples(r);
        more = rows == FETCH_ROWS;
        for (int i = 0; i < rows && e == BTT_OK; i++) {
            btt_ledger_store_entry ent;
            e = btt_store_check_row(s->name, want, get_be(r, i, 0, 8), (const uint8_t *)PQgetvalue(r, i, 1),
                                    PQgetisnull(r, i, 1) ? -1 : PQgetlength(r, i, 1), get_be(r, i, 2, 8),
                                    get_be(r, i, 3, 4), &ent, err);
            if (e == BTT_OK) e = cb(&ent, ud, err);
            want++;
        }
        PQclear(r);
        if (e != BTT_OK) break;
    }
    if (e == BTT_OK) e = exec(s, "COMMIT", err);
    if (e != BTT_OK) {
        rollback(s);
        return e;
    }
    if (s->have_genesis) s->last_seq = want - 1; /* the log as it is, even if an append's answer was lost */
    return BTT_OK;
}

/* ------------------------------------------------------------------------- close */

static void pg_close(btt_ledger_store *base)
{
    pg_store *s = (pg_store *)base;
    PQfinish(s->conn); /* NULL-safe; ends the session and with it the advisory lock */
    btt_buf_free(&s->copy);
    free(s);
}

static const btt_ledger_store_ops pg_ops = {.genesis = pg_genesis, .append = pg_append, .replay = pg_replay,
                                            .close = pg_close};

/* -------------------------------------------------------------------------- open */

static const char schema_sql[] =
    "BEGIN;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value BYTEA NOT NULL);"
    "CREATE TABLE log(seq BIGINT PRIMARY KEY CHECK (seq > 0),"
    "                 op BYTEA NOT NULL CHECK (length(op) BETWEEN 1 AND 512),"
    "                 now BIGINT NOT NULL CHECK (now >= 0),"
    "                 reason INT NOT NULL);"
    "INSERT INTO meta(key, value) VALUES ('application', 'btt-ledger'), "
    "('schema_version', '" STR(BTT_LEDGER_STORE_PG_SCHEMA) "');"
    "COMMIT;";

static btt_err take_lock(pg_store *s, btt_error *err)
{
    static const char sql[] = "SELECT pg_try_advisory_lock(" STR(LOCK_KEY) ", hashtext(current_schema()))";
    for (int i = 0;; i++) {
        PGresult *r = NULL;
        btt_err e = query(s, sql, 0, NULL, NULL, &r, err);
        if (e != BTT_OK) return e;
        bool null = PQntuples(r) != 1 || PQgetisnull(r, 0, 0), got = !null && PQgetvalue(r, 0, 0)[0] == 1;
        PQclear(r);
        if (null) return btt_error_set(err, BTT_EINVAL, "%s: no current schema (check search_path)", s->name);
        if (got) return BTT_OK;
        if (i == LOCK_TRIES) return btt_error_set(err, BTT_EIO, "%s: in use by another btt process", s->name);
        usleep(LOCK_WAIT_US);
    }
}

/* The schema version in meta: -1 if absent or not a number. */
static int64_t meta_version(const btt_buf *b)
{
    int64_t v = 0;
    if (b->len == 0 || b->len > 9) return -1;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] < '0' || b->data[i] > '9') return -1;
        v = v * 10 + (b->data[i] - '0');
    }
    return v;
}

static btt_err setup(pg_store *s, bool create, btt_error *err)
{
    int64_t tables = 0, meta_cols = 0;
    btt_err e = query_int(s, "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()", &tables,
                          err);
    if (e != BTT_OK) return e;
    if (tables == 0) {
        if (!create) return btt_error_set(err, BTT_ENOENT, "%s: no btt ledger here (no tables)", s->name);
        PGresult *r = PQexec(s->conn, schema_sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            e = pg_fail(s, r, "creating the ledger tables", err);
            rollback(s);
            return e;
        }
        PQclear(r);
        return BTT_OK;
    }
    e = query_int(s,
                  "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND "
                  "table_name = 'meta' AND ((column_name = 'key' AND data_type = 'text') OR "
                  "(column_name = 'value' AND data_type = 'bytea'))",
                  &meta_cols, err);
    if (e != BTT_OK) return e;
    if (meta_cols != 2) return btt_error_set(err, BTT_EINVAL, "%s: a database with tables, but not a btt ledger", s->name);
    btt_buf app, ver;
    btt_buf_init(&app, 64);
    btt_buf_init(&ver, 64);
    bool found_app = false, found_ver = false;
    if ((e = meta_get(s, "application", &app, &found_app, err)) == BTT_OK)
        e = meta_get(s, "schema_version", &ver, &found_ver, err);
    int64_t v = meta_version(&ver);
    if (e == BTT_OK && (!found_app || app.len != 10 || memcmp(app.data, "btt-ledger", 10) != 0))
        e = btt_error_set(err, BTT_EINVAL, "%s: a database with tables, but not a btt ledger", s->name);
    else if (e == BTT_OK && v > BTT_LEDGER_STORE_PG_SCHEMA)
        e = btt_error_set(err, BTT_EVERSION,
                          "%s: ledger schema version %" PRId64 " is newer than this btt supports (%d); upgrade btt",
                          s->name, v, BTT_LEDGER_STORE_PG_SCHEMA);
    else if (e == BTT_OK && v < 1)
        e = btt_error_set(err, BTT_EIO, "%s: database is damaged (btt ledger without a schema version)", s->name);
    btt_buf_free(&app);
    btt_buf_free(&ver);
    return e;
}

btt_err btt_ledger_store_pg_open(const char *conninfo, bool create, btt_ledger_store **out, btt_error *err)
{
    *out = NULL;
    /* Its parse error could quote the string, password included: not shown. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    PQconninfoFree(opts);
    PQfreemem(perr);
    if (!opts) return btt_error_set(err, BTT_EINVAL, "not a valid PostgreSQL connection string");
    pg_store *s = calloc(1, sizeof *s);
    if (!s) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    s->base.ops = &pg_ops;
    btt_buf_init(&s->copy, (size_t)-1);
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const vals[] = {conninfo, "btt ledger", NULL};
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn) {
        free(s);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    const char *db = PQdb(s->conn), *host = PQhost(s->conn), *port = PQport(s->conn);
    snprintf(s->name, sizeof s->name, "PostgreSQL database '%s' at %s:%s", db ? db : "", host && *host ? host : "default",
             port && *port ? port : "default");
    btt_err e = BTT_OK;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        e = pg_fail(s, NULL, "cannot connect", err);
        goto fail;
    }
    /* Durable commits whatever the server's or the role's default; no NOTICE chatter. */
    if ((e = exec(s, "SET synchronous_commit = on", err)) != BTT_OK) goto fail;
    if ((e = exec(s, "SET client_min_messages = warning", err)) != BTT_OK) goto fail;
    if ((e = take_lock(s, err)) != BTT_OK) goto fail;
    if ((e = setup(s, create, err)) != BTT_OK) goto fail;
    *out = &s->base;
    return BTT_OK;
fail:
    pg_close(&s->base);
    return e;
}

btt_err btt_ledger_store_pg_test_readonly(btt_ledger_store *base, bool on, btt_error *err)
{
    if (!base || base->ops != &pg_ops) return btt_error_set(err, BTT_EINVAL, "not a PostgreSQL ledger store");
    pg_store *s = (pg_store *)base;
    return exec(s, on ? "SET default_transaction_read_only = on" : "SET default_transaction_read_only = off", err);
}
