/* store_sqlite.c - the ledger store on SQLite (btt/ledger_store.h).
 *
 * One file, two tables:
 *   meta(key, value)            'genesis': the genesis in its text form (btt_genesis_parse reads
 *                               it back), 'ledger_id': the 32-byte id it hashes to
 *   log(seq, op, now, reason)   one row per accepted operation, seq = 1, 2, ...
 * The file is recognised by PRAGMA application_id (BTT_APP_ID) and versioned by PRAGMA
 * user_version (BTT_LEDGER_STORE_SQLITE_SCHEMA); a newer version is refused. WAL journal with
 * synchronous=FULL: a COMMIT returns after the WAL is fsynced, so one append = one fsync. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "btt/ledger_store.h"
#include "ledger/store_int.h"

#define BTT_APP_ID 0x62747431 /* "btt1" */

typedef struct sqlite_store {
    btt_ledger_store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *begin, *commit, *rollback, *insert, *replay;
    uint64_t last_seq;
    bool have_genesis;
    int lock_fd; /* flock'ed: one process owns a ledger database (two would each keep their own
                    in-memory state and diverge) */
} sqlite_store;

static btt_err sq_error(sqlite_store *s, btt_error *err, int rc, const char *what)
{
    int prim = rc & 0xff;
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    if (prim == SQLITE_NOTADB)
        return btt_error_set(err, BTT_EINVAL, "%s: not a SQLite database (%s)", s->path, msg);
    if (prim == SQLITE_CORRUPT)
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (%s: %s)", s->path, what, msg);
    if (prim == SQLITE_NOMEM) return btt_error_set(err, BTT_ENOMEM, "%s: %s: out of memory", s->path, what);
    return btt_error_set(err, BTT_EIO, "%s: %s: %s", s->path, what, msg);
}

static btt_err exec(sqlite_store *s, const char *sql, btt_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? BTT_OK : sq_error(s, err, rc, sql);
}

/* Runs a one-row, one-integer query (PRAGMA x, SELECT count(*)...). */
static btt_err query_int(sqlite_store *s, const char *sql, int64_t *out, btt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return sq_error(s, err, rc, sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    btt_err e = rc == SQLITE_OK ? BTT_OK : sq_error(s, err, rc, sql);
    sqlite3_finalize(st);
    return e;
}

static void rollback(sqlite_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_reset(s->rollback);
        (void)sqlite3_step(s->rollback);
        sqlite3_reset(s->rollback);
    }
}

static btt_err step_done(sqlite_store *s, sqlite3_stmt *st, const char *what, btt_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? BTT_OK : sq_error(s, err, rc, what);
}

/* ------------------------------------------------------------------------ genesis */

static btt_err meta_get(sqlite_store *s, const char *key, btt_buf *out, bool *found, btt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL);
    if (rc != SQLITE_OK) return sq_error(s, err, rc, "reading meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    btt_err e = BTT_OK;
    *found = false;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        *found = true;
        if (n > 0) e = btt_buf_append(out, p, (size_t)n);
    } else if (rc != SQLITE_DONE) {
        e = sq_error(s, err, rc, "reading meta");
    }
    sqlite3_finalize(st);
    return e;
}

static btt_err meta_put(sqlite_store *s, const char *key, const void *p, size_t n, btt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL);
    if (rc != SQLITE_OK) return sq_error(s, err, rc, "writing meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, p, (int)n, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? BTT_OK : sq_error(s, err, rc, "writing meta");
}

static btt_err sq_genesis(btt_ledger_store *base, const btt_genesis *if_new, btt_genesis *g,
                          uint8_t id[BTT_LEDGER_ID_LEN], btt_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    btt_buf text, idb;
    btt_buf_init(&text, 1 << 16);
    btt_buf_init(&idb, 64);
    bool found = false, found_id = false, store_it = false;
    int64_t last = 0;
    btt_err e = step_done(s, s->begin, "BEGIN IMMEDIATE", err);
    if (e != BTT_OK) goto out;
    if ((e = meta_get(s, "genesis", &text, &found, err)) != BTT_OK) goto out;
    if ((e = meta_get(s, "ledger_id", &idb, &found_id, err)) != BTT_OK) goto out;
    e = btt_store_genesis_resolve(s->path, if_new, &text, found, &idb, found_id, g, id, &store_it, err);
    if (e != BTT_OK) goto out;
    if (store_it) {
        if ((e = meta_put(s, "genesis", text.data, text.len, err)) != BTT_OK) goto out;
        if ((e = meta_put(s, "ledger_id", idb.data, idb.len, err)) != BTT_OK) goto out;
    } else if ((e = query_int(s, "SELECT coalesce(max(seq), 0) FROM log", &last, err)) != BTT_OK) {
        goto out;
    }
    if ((e = step_done(s, s->commit, "COMMIT", err)) != BTT_OK) goto out;
    s->last_seq = (uint64_t)last;
    s->have_genesis = true;
out:
    if (e != BTT_OK) rollback(s);
    btt_buf_free(&text);
    btt_buf_free(&idb);
    return e;
}

/* ------------------------------------------------------------------------ append */

static btt_err sq_append(btt_ledger_store *base, const btt_ledger_store_entry *en, size_t n, btt_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s->have_genesis) return btt_error_set(err, BTT_EINVAL, "%s: append before genesis", s->path);
    if (n == 0) return BTT_OK;
    btt_err e = btt_store_check_batch(s->path, s->last_seq, en, n, err);
    if (e != BTT_OK) return e;
    if ((e = step_done(s, s->begin, "BEGIN IMMEDIATE", err)) != BTT_OK) return e;
    for (size_t i = 0; i < n && e == BTT_OK; i++) {
        sqlite3_bind_int64(s->insert, 1, (sqlite3_int64)en[i].seq);
        sqlite3_bind_blob(s->insert, 2, en[i].op, (int)en[i].op_len, SQLITE_STATIC);
        sqlite3_bind_int64(s->insert, 3, (sqlite3_int64)en[i].now);
        sqlite3_bind_int64(s->insert, 4, (sqlite3_int64)en[i].reason);
        e = step_done(s, s->insert, "appending to the log", err);
        sqlite3_clear_bindings(s->insert);
    }
    if (e == BTT_OK) e = step_done(s, s->commit, "COMMIT", err);
    if (e != BTT_OK) {
        rollback(s);
        return e;
    }
    s->last_seq += n;
    return BTT_OK;
}

/* ------------------------------------------------------------------------ replay */

static btt_err sq_replay(btt_ledger_store *base, btt_ledger_store_replay_cb *cb, void *ud, btt_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    btt_err e = exec(s, "BEGIN", err); /* deferred: one read snapshot for the whole replay */
    if (e != BTT_OK) return e;
    uint64_t want = 1;
    int rc;
    sqlite3_reset(s->replay);
    while ((rc = sqlite3_step(s->replay)) == SQLITE_ROW) {
        sqlite3_int64 seq = sqlite3_column_int64(s->replay, 0);
        sqlite3_int64 now = sqlite3_column_int64(s->replay, 2);
        sqlite3_int64 reason = sqlite3_column_int64(s->replay, 3);
        const uint8_t *op = sqlite3_column_blob(s->replay, 1);
        int len = sqlite3_column_bytes(s->replay, 1);
        btt_ledger_store_entry ent;
        if ((e = btt_store_check_row(s->path, want, seq, op, len, now, reason, &ent, err)) != BTT_OK) break;
        if ((e = cb(&ent, ud, err)) != BTT_OK) break;
        want++;
    }
    if (e == BTT_OK && rc != SQLITE_DONE) e = sq_error(s, err, rc, "reading the log");
    sqlite3_reset(s->replay);
    if (e == BTT_OK) {
        e = step_done(s, s->commit, "COMMIT", err);
        if (e == BTT_OK && want - 1 != s->last_seq && s->have_genesis)
            s->last_seq = want - 1; /* another process appended; follow the log */
    }
    if (e != BTT_OK) rollback(s);
    return e;
}

/* ------------------------------------------------------------------------- close */

static void sq_close(btt_ledger_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->replay);
    sqlite3_close(s->db); /* NULL-safe; every statement is finalized */
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->path);
    free(s);
}

static const btt_ledger_store_ops sqlite_ops = {
    .genesis = sq_genesis, .append = sq_append, .replay = sq_replay, .close = sq_close};

/* -------------------------------------------------------------------------- open */

static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
    "CREATE TABLE log(seq INTEGER PRIMARY KEY CHECK (seq > 0),"
    "                 op BLOB NOT NULL CHECK (length(op) BETWEEN 1 AND 512),"
    "                 now INTEGER NOT NULL CHECK (now >= 0),"
    "                 reason INTEGER NOT NULL);";

static btt_err prepare(sqlite_store *s, const char *sql, sqlite3_stmt **st, btt_error *err)
{
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? BTT_OK : sq_error(s, err, rc, sql);
}

static btt_err setup(sqlite_store *s, bool create, btt_error *err)
{
    int64_t app = 0, ver = 0, tables = 0;
    btt_err e;
    /* The first read of the header: a file that is not SQLite fails here with NOTADB. */
    if ((e = query_int(s, "PRAGMA application_id", &app, err)) != BTT_OK) return e;
    if ((e = query_int(s, "PRAGMA user_version", &ver, err)) != BTT_OK) return e;
    if ((e = query_int(s, "SELECT count(*) FROM sqlite_master", &tables, err)) != BTT_OK) return e;
    if (app == 0 && ver == 0 && tables == 0) {
        if (!create) return btt_error_set(err, BTT_EINVAL, "%s: empty database, not a btt ledger", s->path);
    } else if (app != BTT_APP_ID) {
        return btt_error_set(err, BTT_EINVAL, "%s: a SQLite database, but not a btt ledger", s->path);
    } else if (ver > BTT_LEDGER_STORE_SQLITE_SCHEMA) {
        return btt_error_set(err, BTT_EVERSION,
                             "%s: ledger schema version %" PRId64 " is newer than this btt supports (%d); upgrade btt",
                             s->path, ver, BTT_LEDGER_STORE_SQLITE_SCHEMA);
    } else if (ver < 1) {
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (btt ledger without a schema version)", s->path);
    }
    /* WAL: readers never block the writer; with synchronous=FULL each commit fsyncs the WAL. */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    bool wal = rc == SQLITE_ROW && sqlite3_column_text(st, 0) &&
               strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return sq_error(s, err, rc, "PRAGMA journal_mode=WAL");
    if (!wal) return btt_error_set(err, BTT_EIO, "%s: could not switch to WAL journal mode", s->path);
    if ((e = exec(s, "PRAGMA synchronous=FULL", err)) != BTT_OK) return e;
    if ((e = exec(s, "PRAGMA foreign_keys=ON", err)) != BTT_OK) return e;

    if (app == 0) { /* new: create the schema, re-checking under the write lock */
        if ((e = exec(s, "BEGIN IMMEDIATE", err)) != BTT_OK) return e;
        if ((e = query_int(s, "SELECT count(*) FROM sqlite_master", &tables, err)) == BTT_OK) {
            if (tables == 0) {
                char sql[160];
                snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d;", BTT_APP_ID,
                         BTT_LEDGER_STORE_SQLITE_SCHEMA);
                if ((e = exec(s, schema_sql, err)) == BTT_OK) e = exec(s, sql, err);
            }
            if (e == BTT_OK) e = exec(s, "COMMIT", err);
        }
        if (e != BTT_OK) {
            (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
        if (tables != 0) return setup(s, false, err); /* someone else created it: check it as existing */
    }
    if ((e = prepare(s, "BEGIN IMMEDIATE", &s->begin, err)) != BTT_OK) return e;
    if ((e = prepare(s, "COMMIT", &s->commit, err)) != BTT_OK) return e;
    if ((e = prepare(s, "ROLLBACK", &s->rollback, err)) != BTT_OK) return e;
    if ((e = prepare(s, "INSERT INTO log(seq, op, now, reason) VALUES (?, ?, ?, ?)", &s->insert, err)) != BTT_OK)
        return e;
    if ((e = prepare(s, "SELECT seq, op, now, reason FROM log ORDER BY seq", &s->replay, err)) != BTT_OK) return e;
    return BTT_OK;
}

btt_err btt_ledger_store_sqlite_open(const char *path, bool create, btt_ledger_store **out, btt_error *err)
{
    *out = NULL;
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    s->base.ops = &sqlite_ops;
    s->lock_fd = -1;
    s->path = strdup(path);
    if (!s->path) {
        free(s);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    btt_err e = BTT_OK;
    struct stat stt;
    if (stat(path, &stt) != 0) {
        if (errno != ENOENT || !create) {
            e = btt_error_errno(err, errno, path);
            goto fail;
        }
        /* Create it ourselves so its mode is 0600 whatever the umask; SQLite gives the -wal and
         * -shm files the database's mode. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            e = btt_error_errno(err, errno, path);
            goto fail;
        }
        if (fd >= 0) {
            (void)fchmod(fd, 0600);
            close(fd);
        }
    } else if (!S_ISREG(stt.st_mode)) {
        e = btt_error_set(err, BTT_EINVAL, "%s: not a regular file", path);
        goto fail;
    }
    s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->lock_fd < 0) {
        e = btt_error_errno(err, errno, path);
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        e = errno == EWOULDBLOCK ? btt_error_set(err, BTT_EIO, "%s: in use by another btt process", path)
                                 : btt_error_errno(err, errno, path);
        goto fail;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        e = sq_error(s, err, rc, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if ((e = setup(s, create, err)) != BTT_OK) goto fail;
    *out = &s->base;
    return BTT_OK;
fail:
    sq_close(&s->base);
    return e;
}

btt_err btt_ledger_store_sqlite_test_readonly(btt_ledger_store *base, bool on, btt_error *err)
{
    if (!base || base->ops != &sqlite_ops) return btt_error_set(err, BTT_EINVAL, "not a SQLite ledger store");
    sqlite_store *s = (sqlite_store *)base;
    return exec(s, on ? "PRAGMA query_only=1" : "PRAGMA query_only=0", err);
}
