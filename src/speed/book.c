/* book.c - the durable book of Speed payments (btt/speed_book.h) on SQLite.
 *
 * Tables:
 *   channels(id PRIMARY KEY, ledger, role, me, peer, deposit, amount, seq, sig, expiry, opened,
 *            state, settled)     one row per channel, rewritten as it moves
 *   flows(id, info_hash, amount, pieces, PRIMARY KEY (id, info_hash))   per torrent in a channel
 * Recognised by PRAGMA application_id, versioned by PRAGMA user_version. */
#include "btt/speed_book.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#define BOOK_APP_ID 0x62747462 /* "bttb" */
#define BOOK_SCHEMA 1

struct btt_speed_book {
    sqlite3 *db;
    sqlite3_stmt *put, *piece, *channels_all, *channels_of, *flows;
    char path[512];
};

static btt_err fail(btt_speed_book *b, btt_error *err, const char *what)
{
    return btt_error_set(err, BTT_EIO, "%s: %s: %s", b->path, what, b->db ? sqlite3_errmsg(b->db) : "cannot open");
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS channels(id BLOB PRIMARY KEY, ledger BLOB NOT NULL, role INTEGER NOT NULL,"
    " me BLOB NOT NULL, peer BLOB NOT NULL, deposit INTEGER NOT NULL, amount INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, sig BLOB NOT NULL, expiry INTEGER NOT NULL, opened INTEGER NOT NULL,"
    " state INTEGER NOT NULL, settled INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS flows(id BLOB NOT NULL, info_hash BLOB NOT NULL, amount INTEGER NOT NULL,"
    " pieces INTEGER NOT NULL, PRIMARY KEY (id, info_hash));";

static const char cols[] = "id, ledger, role, me, peer, deposit, amount, seq, sig, expiry, opened, state, settled";

btt_err btt_speed_book_open(const char *path, bool create, btt_speed_book **out, btt_error *err)
{
    *out = NULL;
    if (!create && access(path, F_OK) != 0) return btt_error_set(err, BTT_ENOENT, "%s: no Speed book here", path);
    if (create) { /* made 0600 before SQLite opens it: it names accounts and amounts */
        int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) return btt_error_set(err, BTT_EIO, "%s: cannot create", path);
        close(fd);
    }
    btt_speed_book *b = calloc(1, sizeof *b);
    if (!b) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    snprintf(b->path, sizeof b->path, "%s", path);
    btt_err e = BTT_OK;
    if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        e = fail(b, err, "open");
        goto out;
    }
    sqlite3_busy_timeout(b->db, 5000);
    sqlite3_stmt *st = NULL;
    int app = 0, ver = 0, tables = 0;
    if (sqlite3_prepare_v2(b->db, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        e = btt_error_set(err, BTT_EINVAL, "%s: not a SQLite database", path);
        goto out;
    }
    app = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(b->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        ver = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(b->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (tables && app != BOOK_APP_ID) {
        e = btt_error_set(err, BTT_EINVAL, "%s: a SQLite database, but not a btt Speed book", path);
        goto out;
    }
    if (ver > BOOK_SCHEMA) {
        e = btt_error_set(err, BTT_EVERSION, "%s: a newer Speed book (version %d) than this btt knows", path, ver);
        goto out;
    }
    /* one transaction for the whole set-up: a fresh book costs one sync, not one per statement */
    char init[200];
    snprintf(init, sizeof init, "PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL; BEGIN; PRAGMA application_id=%d;"
             " PRAGMA user_version=%d;", BOOK_APP_ID, BOOK_SCHEMA);
    if (sqlite3_exec(b->db, init, NULL, NULL, NULL) != SQLITE_OK || sqlite3_exec(b->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        e = fail(b, err, "setting up");
        goto out;
    }
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO channels(%s) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", cols);
    int rc = sqlite3_prepare_v2(b->db, sql, -1, &b->put, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(b->db,
                                "INSERT INTO flows(id, info_hash, amount, pieces) VALUES(?,?,?,1) ON CONFLICT(id, info_hash)"
                                " DO UPDATE SET amount = amount + excluded.amount, pieces = pieces + 1",
                                -1, &b->piece, NULL);
    snprintf(sql, sizeof sql, "SELECT %s FROM channels ORDER BY opened, rowid", cols);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(b->db, sql, -1, &b->channels_all, NULL);
    snprintf(sql, sizeof sql, "SELECT %s FROM channels WHERE me = ? ORDER BY opened, rowid", cols);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(b->db, sql, -1, &b->channels_of, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(b->db, "SELECT info_hash, amount, pieces FROM flows WHERE id = ? ORDER BY rowid", -1,
                                &b->flows, NULL);
    if (rc != SQLITE_OK) e = fail(b, err, "preparing statements");
out:
    if (e != BTT_OK) {
        btt_speed_book_close(b);
        return e;
    }
    *out = b;
    return BTT_OK;
}

void btt_speed_book_close(btt_speed_book *b)
{
    if (!b) return;
    sqlite3_finalize(b->put);
    sqlite3_finalize(b->piece);
    sqlite3_finalize(b->channels_all);
    sqlite3_finalize(b->channels_of);
    sqlite3_finalize(b->flows);
    sqlite3_close(b->db);
    free(b);
}

btt_err btt_speed_book_begin(btt_speed_book *b, btt_error *err)
{
    return sqlite3_exec(b->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? BTT_OK : fail(b, err, "BEGIN");
}

btt_err btt_speed_book_commit(btt_speed_book *b, btt_error *err)
{
    return sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? BTT_OK : fail(b, err, "COMMIT");
}

static int64_t i64(uint64_t v) { return v > INT64_MAX ? INT64_MAX : (int64_t)v; }

btt_err btt_speed_book_put(btt_speed_book *b, const btt_book_channel *c, btt_error *err)
{
    sqlite3_stmt *st = b->put;
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, c->id, sizeof c->id, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, c->ledger, sizeof c->ledger, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)c->role);
    sqlite3_bind_blob(st, 4, c->me.key, sizeof c->me.key, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, c->peer.key, sizeof c->peer.key, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, i64(btt_amount_units(c->deposit)));
    sqlite3_bind_int64(st, 7, i64(btt_amount_units(c->amount)));
    sqlite3_bind_int64(st, 8, i64(c->seq));
    sqlite3_bind_blob(st, 9, c->sig, sizeof c->sig, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, i64(c->expiry));
    sqlite3_bind_int64(st, 11, i64(c->opened));
    sqlite3_bind_int(st, 12, (int)c->state);
    sqlite3_bind_int64(st, 13, i64(btt_amount_units(c->settled)));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? BTT_OK : fail(b, err, "writing a channel");
}

btt_err btt_speed_book_add_piece(btt_speed_book *b, const uint8_t id[BTT_CHANNEL_ID_LEN], const uint8_t info_hash[20],
                                 btt_amount amount, btt_error *err)
{
    sqlite3_stmt *st = b->piece;
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, id, BTT_CHANNEL_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, info_hash, 20, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, i64(btt_amount_units(amount)));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? BTT_OK : fail(b, err, "writing a piece");
}

/* A blob column of exactly n bytes into out. */
static bool blob(sqlite3_stmt *st, int col, void *out, size_t n)
{
    if (sqlite3_column_bytes(st, col) != (int)n || !sqlite3_column_blob(st, col)) return false;
    memcpy(out, sqlite3_column_blob(st, col), n);
    return true;
}

static bool amount_col(sqlite3_stmt *st, int col, btt_amount *out)
{
    int64_t v = sqlite3_column_int64(st, col);
    return v >= 0 && btt_amount_from_units((uint64_t)v, out);
}

btt_err btt_speed_book_channels(btt_speed_book *b, const btt_account *me, btt_book_channel_cb *cb, void *ud,
                                btt_error *err)
{
    sqlite3_stmt *st = me ? b->channels_of : b->channels_all;
    sqlite3_reset(st);
    if (me) sqlite3_bind_blob(st, 1, me->key, sizeof me->key, SQLITE_STATIC);
    int rc;
    btt_err e = BTT_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        btt_book_channel c;
        memset(&c, 0, sizeof c);
        int role = sqlite3_column_int(st, 2), state = sqlite3_column_int(st, 11);
        int64_t seq = sqlite3_column_int64(st, 7), expiry = sqlite3_column_int64(st, 9), opened = sqlite3_column_int64(st, 10);
        if (!blob(st, 0, c.id, sizeof c.id) || !blob(st, 1, c.ledger, sizeof c.ledger) ||
            !blob(st, 3, c.me.key, sizeof c.me.key) || !blob(st, 4, c.peer.key, sizeof c.peer.key) ||
            !amount_col(st, 5, &c.deposit) || !amount_col(st, 6, &c.amount) || !blob(st, 8, c.sig, sizeof c.sig) ||
            !amount_col(st, 12, &c.settled) || (role != BTT_BOOK_PAYER && role != BTT_BOOK_PAYEE) ||
            (state != BTT_BOOK_OPEN && state != BTT_BOOK_SETTLED) || seq < 0 || expiry < 0 || opened < 0) {
            e = btt_error_set(err, BTT_EIO, "%s: a damaged channel row", b->path);
            break;
        }
        c.role = (btt_book_role)role;
        c.state = (btt_book_state)state;
        c.seq = (uint64_t)seq;
        c.expiry = (uint64_t)expiry;
        c.opened = (uint64_t)opened;
        cb(&c, ud);
    }
    if (e == BTT_OK && rc != SQLITE_DONE) e = fail(b, err, "reading channels");
    sqlite3_reset(st);
    return e;
}

btt_err btt_speed_book_flows(btt_speed_book *b, const uint8_t id[BTT_CHANNEL_ID_LEN], btt_book_flow_cb *cb, void *ud,
                             btt_error *err)
{
    sqlite3_stmt *st = b->flows;
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, id, BTT_CHANNEL_ID_LEN, SQLITE_STATIC);
    int rc;
    btt_err e = BTT_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t ih[20];
        btt_amount a;
        int64_t pieces = sqlite3_column_int64(st, 2);
        if (!blob(st, 0, ih, sizeof ih) || !amount_col(st, 1, &a) || pieces < 0) {
            e = btt_error_set(err, BTT_EIO, "%s: a damaged flow row", b->path);
            break;
        }
        cb(ih, a, (uint64_t)pieces, ud);
    }
    if (e == BTT_OK && rc != SQLITE_DONE) e = fail(b, err, "reading flows");
    sqlite3_reset(st);
    return e;
}
