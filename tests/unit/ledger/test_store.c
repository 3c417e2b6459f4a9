/* The ledger's durable stores (SQLite and PostgreSQL) and btt_ledger_db: reopening replays to
 * the same state as a ledger built in memory from the same operations; the store contract
 * (genesis, seq continuity, batches, replay order); bad files and bad databases give clear
 * errors; one process owns a ledger; a failed append leaves the in-memory ledger as it was; a
 * SIGKILLed writer loses nothing it acknowledged.
 *
 * Usage: test_ledger_store sqlite | pg. With pg, BTT_TEST_PG_CONNINFO_FILE names a file holding
 * the conninfo of a running server (scripts/pg-test-server.sh, the CTest fixture "pg"); each test
 * creates its own database there and drops it afterwards. Without a server the run fails. */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "btt/ledger_store.h"

/* ------------------------------------------------------------------- backends */

static bool pg;              /* the backend under test: PostgreSQL, else SQLite */
static char pg_admin[1024];  /* conninfo of the test server's maintenance database */

/* Runs sql (one or more statements) on the database of conninfo. */
static void pg_sql(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        print_error("connect: %s\n", PQerrorMessage(c));
        PQfinish(c);
        fail();
    }
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) print_error("%s: %s\n", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    assert_true(ok);
}

/* Where a test's ledger lives: a SQLite file in a fresh directory, or a fresh PostgreSQL
 * database; db is the path or the conninfo. */
typedef struct tdir {
    char dir[64];
    char name[64]; /* PostgreSQL: the database */
    char db[1200];
} tdir;

static void tdir_make(tdir *t)
{
    if (pg) {
        static int n;
        snprintf(t->name, sizeof t->name, "btt_test_%d_%d", (int)getpid(), ++n);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", t->name);
        pg_sql(pg_admin, sql);
        snprintf(t->db, sizeof t->db, "%s dbname=%s", pg_admin, t->name);
        return;
    }
    snprintf(t->dir, sizeof t->dir, "/tmp/btt-store-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/ledger.db", t->dir);
}

static void tdir_rm(tdir *t)
{
    if (pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", t->name);
        pg_sql(pg_admin, sql);
        return;
    }
    static const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[1300];
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        snprintf(p, sizeof p, "%s%s", t->db, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

static btt_err store_open(const char *db, bool create, btt_ledger_store **s, btt_error *err)
{
    return pg ? btt_ledger_store_pg_open(db, create, s, err) : btt_ledger_store_sqlite_open(db, create, s, err);
}

static btt_err store_readonly(btt_ledger_store *s, bool on, btt_error *err)
{
    return pg ? btt_ledger_store_pg_test_readonly(s, on, err) : btt_ledger_store_sqlite_test_readonly(s, on, err);
}

static btt_ledger_db *db_open(const char *path, bool create, const btt_genesis *g)
{
    btt_ledger_store *s = NULL;
    btt_error err = {0};
    if (store_open(path, create, &s, &err) != BTT_OK) {
        print_error("store open: %s\n", err.msg);
        fail();
    }
    btt_ledger_db *db = NULL;
    if (btt_ledger_db_open(s, g, &db, &err) != BTT_OK) {
        print_error("db open: %s\n", err.msg);
        fail();
    }
    return db;
}

/* ---------------------------------------------------------------- state equality */

typedef struct cmp_ctx {
    const btt_ledger *other;
    size_t n;
} cmp_ctx;

static void cmp_account(const btt_account *a, const btt_ledger_account_info *info, void *ud)
{
    cmp_ctx *c = ud;
    btt_ledger_account_info o;
    assert_true(btt_ledger_account_get(c->other, a, &o));
    assert_true(btt_amount_eq(o.balance, info->balance));
    assert_int_equal(o.nonce, info->nonce);
    assert_int_equal(o.faucet_used, info->faucet_used);
    c->n++;
}

static void cmp_channel(const btt_ledger_channel_info *info, void *ud)
{
    cmp_ctx *c = ud;
    btt_ledger_channel_info o;
    assert_true(btt_ledger_channel_get(c->other, info->id, &o));
    assert_true(btt_account_eq(&o.payer, &info->payer));
    assert_true(btt_account_eq(&o.payee, &info->payee));
    assert_true(btt_amount_eq(o.deposit, info->deposit));
    assert_true(btt_amount_eq(o.claimed, info->claimed));
    assert_int_equal(o.seq, info->seq);
    assert_int_equal(o.expiry, info->expiry);
    c->n++;
}

static void assert_same_state(const btt_ledger *want, const btt_ledger *got)
{
    assert_memory_equal(btt_ledger_id(want), btt_ledger_id(got), BTT_LEDGER_ID_LEN);
    assert_int_equal(btt_ledger_height(want), btt_ledger_height(got));
    assert_int_equal(btt_ledger_time(want), btt_ledger_time(got));
    assert_int_equal(btt_ledger_num_accounts(want), btt_ledger_num_accounts(got));
    assert_int_equal(btt_ledger_num_channels(want), btt_ledger_num_channels(got));
    cmp_ctx c = {.other = got};
    btt_ledger_foreach_account(want, cmp_account, &c);
    assert_int_equal(c.n, btt_ledger_num_accounts(want));
    c.n = 0;
    btt_ledger_foreach_channel(want, cmp_channel, &c);
    assert_int_equal(c.n, btt_ledger_num_channels(want));
    btt_error err = {0};
    if (btt_ledger_check_invariant(got, &err) != BTT_OK) {
        print_error("invariant: %s\n", err.msg);
        fail();
    }
}

/* --------------------------------------------------------------- op builders */

static btt_ledger_op mk_transfer(const fx *f, const btt_wallet *from, uint64_t nonce, const btt_wallet *to,
                                 btt_amount amount)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(from), nonce);
    op.to = *fx_acct(to);
    op.amount = amount;
    assert_int_equal(btt_ledger_op_sign(&op, f->id, from), BTT_OK);
    return op;
}

static btt_ledger_op mk_open(const fx *f, const btt_wallet *payer, uint64_t nonce, const btt_wallet *payee,
                             btt_amount amount, uint64_t expiry)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_OPEN, fx_acct(payer), nonce);
    op.to = *fx_acct(payee);
    op.amount = amount;
    op.expiry = expiry;
    assert_int_equal(btt_ledger_op_sign(&op, f->id, payer), BTT_OK);
    return op;
}

static btt_ledger_op mk_settle(const fx *f, const btt_wallet *payer, const btt_wallet *payee, uint64_t nonce,
                               const uint8_t ch[32], uint64_t units, uint64_t seq, bool final)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, final ? BTT_LEDGER_CLOSE : BTT_LEDGER_CLAIM, fx_acct(payee), nonce);
    memcpy(op.channel, ch, 32);
    op.has_voucher = true;
    op.voucher = fx_voucher(f, payer, ch, units, seq);
    assert_int_equal(btt_ledger_op_sign(&op, f->id, payee), BTT_OK);
    return op;
}

/* Submits to db and applies the same ops to the reference ledger f->l; the receipts must agree. */
static void submit_both(fx *f, btt_ledger_db *db, const btt_ledger_op *ops, size_t n, uint64_t now,
                        const btt_ledger_reason *want)
{
    btt_ledger_receipt rc[16], ref;
    assert_true(n <= 16);
    btt_error err = {0};
    if (btt_ledger_db_submit(db, ops, n, now, rc, &err) != BTT_OK) {
        print_error("submit: %s\n", err.msg);
        fail();
    }
    for (size_t i = 0; i < n; i++) {
        btt_ledger_op op = ops[i];
        btt_ledger_reason r = fx_apply_signed(f, &op, now, &ref);
        assert_reason(rc[i].reason, r);
        if (want) assert_reason(rc[i].reason, want[i]);
        assert_int_equal(rc[i].height, ref.height);
    }
    assert_same_state(f->l, btt_ledger_db_ledger(db));
}

/* ------------------------------------------------------------------------ tests */

static void test_reopen_replays(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, "store-test");
    tdir t;
    tdir_make(&t);
    btt_ledger_db *db = db_open(t.db, true, &f.g);
    if (!pg) {
        struct stat st;
        assert_int_equal(stat(t.db, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        char side[1300];
        snprintf(side, sizeof side, "%s-wal", t.db);
        assert_int_equal(stat(side, &st), 0); /* WAL mode */
        assert_int_equal(st.st_mode & 0777, 0600);
    }

    btt_wallet *pool = f.pool[BTT_POOL_ONBOARDING];
    /* batch 1: funding, a replayed nonce, a payer without an account */
    btt_ledger_op b1[6];
    for (int i = 0; i < 4; i++) b1[i] = mk_transfer(&f, pool, (uint64_t)i + 1, f.user[i], fx_btt(1000));
    b1[4] = mk_transfer(&f, pool, 2, f.user[5], fx_btt(1));
    b1[5] = mk_transfer(&f, f.user[6], 1, f.user[5], fx_btt(1));
    static const btt_ledger_reason w1[] = {BTT_LEDGER_OK, BTT_LEDGER_OK, BTT_LEDGER_OK, BTT_LEDGER_OK,
                                           BTT_LEDGER_BAD_NONCE, BTT_LEDGER_NO_ACCOUNT};
    submit_both(&f, db, b1, 6, 1000, w1);

    /* batch 2: two channels, a transfer, an overdraft */
    uint8_t ch1[32], ch2[32];
    btt_ledger_channel_id(f.id, fx_acct(f.user[0]), 1, ch1);
    btt_ledger_channel_id(f.id, fx_acct(f.user[2]), 1, ch2);
    btt_ledger_op b2[4] = {
        mk_open(&f, f.user[0], 1, f.user[1], fx_btt(10), 5000),
        mk_transfer(&f, f.user[0], 2, f.user[2], fx_btt(7)),
        mk_open(&f, f.user[2], 1, f.user[3], fx_btt(20), 9000),
        mk_transfer(&f, f.user[3], 1, f.user[4], fx_btt(5000)),
    };
    static const btt_ledger_reason w2[] = {BTT_LEDGER_OK, BTT_LEDGER_OK, BTT_LEDGER_OK, BTT_LEDGER_INSUFFICIENT};
    submit_both(&f, db, b2, 4, 1100, w2);

    /* batch 3: claim, close, a stale voucher, a claim on ch2 that stays open */
    btt_ledger_op b3[4] = {
        mk_settle(&f, f.user[0], f.user[1], 1, ch1, 3000000, 1, false),
        mk_settle(&f, f.user[0], f.user[1], 2, ch1, 5000000, 2, true),
        mk_settle(&f, f.user[2], f.user[3], 1, ch2, 1000000, 1, false),
        mk_settle(&f, f.user[2], f.user[3], 2, ch2, 2000000, 1, false),
    };
    static const btt_ledger_reason w3[] = {BTT_LEDGER_OK, BTT_LEDGER_OK, BTT_LEDGER_OK, BTT_LEDGER_STALE_VOUCHER};
    submit_both(&f, db, b3, 4, 1200, w3);
    /* an all-rejected batch and an empty one log nothing */
    submit_both(&f, db, b1, 1, 1300, (btt_ledger_reason[]){BTT_LEDGER_BAD_NONCE});
    btt_error err = {0};
    assert_int_equal(btt_ledger_db_submit(db, NULL, 0, 1300, NULL, &err), BTT_OK);
    assert_int_equal(btt_ledger_height(f.l), 10);
    assert_int_equal(btt_ledger_num_channels(f.l), 1);
    btt_ledger_db_close(db);

    /* reopen: the same state */
    db = db_open(t.db, false, NULL);
    assert_same_state(f.l, btt_ledger_db_ledger(db));
    /* a replayed operation is still rejected, and the log goes on */
    submit_both(&f, db, &b1[0], 1, 1400, (btt_ledger_reason[]){BTT_LEDGER_BAD_NONCE});
    submit_both(&f, db, &b2[1], 1, 1400, (btt_ledger_reason[]){BTT_LEDGER_BAD_NONCE});
    btt_ledger_op more = mk_transfer(&f, pool, 5, f.user[7], fx_btt(3));
    submit_both(&f, db, &more, 1, 1500, (btt_ledger_reason[]){BTT_LEDGER_OK});
    btt_ledger_db_close(db);

    /* and again, with the matching genesis given: fine; a different genesis: refused */
    db = db_open(t.db, false, &f.g);
    assert_same_state(f.l, btt_ledger_db_ledger(db));
    btt_ledger_db_close(db);
    btt_genesis other = f.g;
    snprintf(other.name, sizeof other.name, "other-net");
    btt_ledger_store *s = NULL;
    assert_int_equal(store_open(t.db, false, &s, &err), BTT_OK);
    assert_int_equal(btt_ledger_db_open(s, &other, &db, &err), BTT_EEXIST);
    assert_null(db);

    tdir_rm(&t);
    fx_free(&f);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *d = NULL;
    assert_int_equal(sqlite3_open(path, &d), SQLITE_OK);
    assert_int_equal(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(d);
}

static void expect_open_error(const char *path, bool create, btt_err code, const char *needle)
{
    btt_ledger_store *s = NULL;
    btt_error err = {0};
    btt_err e = store_open(path, create, &s, &err);
    if (e != code || !strstr(err.msg, needle)) {
        print_error("open %s: got %s '%s', want %s '%s'\n", path, btt_err_name(e), err.msg, btt_err_name(code), needle);
        fail();
    }
    assert_null(s);
}

/* SQLite only: files that are not a btt ledger. */
static void test_bad_files(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, "store-test");
    tdir t;
    tdir_make(&t);

    expect_open_error(t.db, false, BTT_ENOENT, t.db);

    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)('a' + i % 26);
    write_file(t.db, junk, sizeof junk);
    expect_open_error(t.db, true, BTT_EINVAL, "not a SQLite database");
    tdir_rm(&t);

    tdir_make(&t);
    sql_exec(t.db, "CREATE TABLE accounts(x INTEGER)");
    expect_open_error(t.db, true, BTT_EINVAL, "not a btt ledger");
    tdir_rm(&t);

    tdir_make(&t);
    btt_ledger_db *db = db_open(t.db, true, &f.g);
    btt_ledger_db_close(db);
    sql_exec(t.db, "PRAGMA user_version=2");
    expect_open_error(t.db, false, BTT_EVERSION, "newer than this btt supports");
    tdir_rm(&t);

    /* a new store and no genesis: ENOENT from the database, no crash */
    tdir_make(&t);
    btt_ledger_store *s = NULL;
    btt_error err = {0};
    assert_int_equal(btt_ledger_store_sqlite_open(t.db, true, &s, &err), BTT_OK);
    assert_int_equal(btt_ledger_db_open(s, NULL, &db, &err), BTT_ENOENT);
    tdir_rm(&t);

    /* a log entry that does not replay: damaged, a clear error */
    tdir_make(&t);
    db = db_open(t.db, true, &f.g);
    btt_ledger_op op = mk_transfer(&f, f.pool[0], 1, f.user[0], fx_btt(1));
    btt_ledger_receipt rc;
    assert_int_equal(btt_ledger_db_submit(db, &op, 1, 10, &rc, &err), BTT_OK);
    btt_ledger_db_close(db);
    sql_exec(t.db, "UPDATE log SET now = now + 1, op = substr(op, 1, length(op) - 3) || 'xxe' WHERE seq = 1");
    assert_int_equal(btt_ledger_store_sqlite_open(t.db, false, &s, &err), BTT_OK);
    assert_int_equal(btt_ledger_db_open(s, NULL, &db, &err), BTT_EIO);
    assert_non_null(strstr(err.msg, "log entry 1"));
    tdir_rm(&t);
    fx_free(&f);
}

/* PostgreSQL only: databases that are not a btt ledger, a newer schema, damaged contents, a
 * connection that fails; every message names the database and none shows the password. */
static void test_bad_databases(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, "store-test");
    tdir t;
    tdir_make(&t);
    expect_open_error(t.db, false, BTT_ENOENT, "no btt ledger here");
    expect_open_error(t.db, false, BTT_ENOENT, t.name);
    pg_sql(t.db, "CREATE TABLE accounts(x INTEGER)");
    expect_open_error(t.db, true, BTT_EINVAL, "not a btt ledger");
    pg_sql(t.db, "DROP TABLE accounts; CREATE TABLE meta(key TEXT PRIMARY KEY, value BYTEA NOT NULL)");
    expect_open_error(t.db, true, BTT_EINVAL, "not a btt ledger"); /* btt-shaped, but not marked as one */
    tdir_rm(&t);

    tdir_make(&t);
    btt_ledger_db *db = db_open(t.db, true, &f.g);
    btt_ledger_db_close(db);
    pg_sql(t.db, "UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    expect_open_error(t.db, false, BTT_EVERSION, "newer than this btt supports");
    pg_sql(t.db, "DELETE FROM meta WHERE key = 'schema_version'");
    expect_open_error(t.db, false, BTT_EIO, "without a schema version");
    tdir_rm(&t);

    /* a new store and no genesis: ENOENT from the database, no crash */
    tdir_make(&t);
    btt_ledger_store *s = NULL;
    btt_error err = {0};
    assert_int_equal(store_open(t.db, true, &s, &err), BTT_OK);
    assert_int_equal(btt_ledger_db_open(s, NULL, &db, &err), BTT_ENOENT);
    tdir_rm(&t);

    /* a log entry that does not replay, then a gap in the log: damaged, clear errors */
    tdir_make(&t);
    db = db_open(t.db, true, &f.g);
    btt_ledger_op ops[2] = {mk_transfer(&f, f.pool[0], 1, f.user[0], fx_btt(1)),
                            mk_transfer(&f, f.pool[0], 2, f.user[1], fx_btt(1))};
    btt_ledger_receipt rc[2];
    assert_int_equal(btt_ledger_db_submit(db, ops, 2, 10, rc, &err), BTT_OK);
    btt_ledger_db_close(db);
    pg_sql(t.db, "UPDATE log SET now = now + 1, op = substring(op from 1 for length(op) - 3) || '\\x787865' "
                 "WHERE seq = 1");
    assert_int_equal(store_open(t.db, false, &s, &err), BTT_OK);
    assert_int_equal(btt_ledger_db_open(s, NULL, &db, &err), BTT_EIO);
    assert_non_null(strstr(err.msg, "log entry 1"));
    pg_sql(t.db, "DELETE FROM log WHERE seq = 1");
    assert_int_equal(store_open(t.db, false, &s, &err), BTT_OK);
    assert_int_equal(btt_ledger_db_open(s, NULL, &db, &err), BTT_EIO);
    assert_non_null(strstr(err.msg, "log entry 1 is missing"));
    tdir_rm(&t);

    /* no server at that socket: BTT_ENET naming the database and socket, no password */
    expect_open_error("host=/nonexistent-btt-dir port=5432 user=postgres password=sekrit dbname=ledger_x", false,
                      BTT_ENET, "PostgreSQL database 'ledger_x' at /nonexistent-btt-dir:5432: cannot connect");
    assert_int_equal(store_open("host=/nonexistent-btt-dir password=sekrit dbname=ledger_x", false, &s, &err),
                     BTT_ENET);
    assert_null(strstr(err.msg, "sekrit"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    /* a database that does not exist on a running server */
    char nodb[1200];
    snprintf(nodb, sizeof nodb, "%s dbname=btt_no_such_db password=sekrit", pg_admin);
    expect_open_error(nodb, true, BTT_ENET, "btt_no_such_db");
    /* a conninfo that does not parse: not echoed (it may hold a password) */
    assert_int_equal(store_open("host=/tmp passwordsekrit", false, &s, &err), BTT_EINVAL);
    assert_null(strstr(err.msg, "sekrit"));
    fx_free(&f);
}

/* One process owns a ledger database: a second open (another server) is refused, not allowed
 * to keep a second in-memory ledger that would diverge from the first. */
static void test_one_owner(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    btt_ledger_store *a = NULL, *b = NULL;
    btt_error err = {0};
    assert_int_equal(store_open(t.db, true, &a, &err), BTT_OK);
    assert_int_equal(store_open(t.db, false, &b, &err), BTT_EIO);
    assert_null(b);
    assert_non_null(strstr(err.msg, "in use by another btt process"));
    btt_ledger_store_close(a);
    assert_int_equal(store_open(t.db, false, &b, &err), BTT_OK);
    btt_ledger_store_close(b);
    tdir_rm(&t);
}

static void test_failed_append_rolls_back(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, "store-test");
    tdir t;
    tdir_make(&t);
    btt_ledger_db *db = db_open(t.db, true, &f.g);
    btt_wallet *pool = f.pool[BTT_POOL_ONBOARDING];
    btt_ledger_op b1[2] = {mk_transfer(&f, pool, 1, f.user[0], fx_btt(50)),
                           mk_transfer(&f, pool, 2, f.user[1], fx_btt(60))};
    submit_both(&f, db, b1, 2, 100, NULL);

    uint8_t ch[32];
    btt_ledger_channel_id(f.id, fx_acct(f.user[0]), 1, ch);
    btt_ledger_op b2[3] = {mk_transfer(&f, pool, 3, f.user[2], fx_btt(70)),
                           mk_open(&f, f.user[0], 1, f.user[1], fx_btt(10), 900),
                           mk_transfer(&f, f.user[1], 1, f.user[3], fx_btt(5))};
    btt_error err = {0};
    assert_int_equal(store_readonly(btt_ledger_db_store(db), true, &err), BTT_OK);
    btt_ledger_receipt rc[3];
    assert_int_equal(btt_ledger_db_submit(db, b2, 3, 200, rc, &err), BTT_EIO);
    assert_non_null(strstr(err.msg, pg ? "read-only transaction" : "readonly"));
    assert_same_state(f.l, btt_ledger_db_ledger(db)); /* unchanged: nothing acknowledged */
    btt_ledger_channel_info ci;
    assert_false(btt_ledger_channel_get(btt_ledger_db_ledger(db), ch, &ci));

    assert_int_equal(store_readonly(btt_ledger_db_store(db), false, &err), BTT_OK);
    submit_both(&f, db, b2, 3, 200, NULL); /* the same ops now go through: their nonces are unused */
    btt_ledger_db_close(db);
    db = db_open(t.db, false, NULL);
    assert_same_state(f.l, btt_ledger_db_ledger(db));
    btt_ledger_db_close(db);
    tdir_rm(&t);
    fx_free(&f);
}

/* ------------------------------------------------------------- store contract */

/* Fake log entries (the store does not decode them): op i is 1 + i % 300 bytes derived from i. */
#define CT_OPS 6000
static uint8_t ct_op[CT_OPS + 1][BTT_LEDGER_OP_MAX];

static btt_ledger_store_entry ct_entry(uint64_t seq)
{
    size_t len = 1 + seq % 300;
    for (size_t k = 0; k < len; k++) ct_op[seq][k] = (uint8_t)(seq * 31 + k);
    return (btt_ledger_store_entry){.seq = seq, .op = ct_op[seq], .op_len = len, .now = seq * 10,
                                    .reason = BTT_LEDGER_OK};
}

typedef struct ct_replay {
    uint64_t n;
    uint64_t stop_at;
} ct_replay;

static btt_err ct_check(const btt_ledger_store_entry *e, void *ud, btt_error *err)
{
    ct_replay *c = ud;
    c->n++;
    btt_ledger_store_entry want = ct_entry(c->n);
    assert_int_equal(e->seq, c->n);
    assert_int_equal(e->op_len, want.op_len);
    assert_memory_equal(e->op, want.op, want.op_len);
    assert_int_equal(e->now, want.now);
    assert_int_equal(e->reason, BTT_LEDGER_OK);
    if (c->n == c->stop_at) return btt_error_set(err, BTT_ECANCELED, "stop");
    return BTT_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The vtable's semantics on the store itself: genesis rules, seq continuity, atomic batches,
 * replay in order from many fetches, a replay stopped by its callback; prints append rates. */
static void test_store_contract(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, "store-contract");
    tdir t;
    tdir_make(&t);
    btt_ledger_store *s = NULL;
    btt_error err = {0};
    btt_genesis g;
    uint8_t id[BTT_LEDGER_ID_LEN];
    assert_int_equal(store_open(t.db, true, &s, &err), BTT_OK);
    btt_ledger_store_entry e1 = ct_entry(1);
    assert_int_equal(s->ops->append(s, &e1, 1, &err), BTT_EINVAL); /* before genesis */
    assert_int_equal(s->ops->genesis(s, NULL, &g, id, &err), BTT_ENOENT);
    assert_int_equal(s->ops->genesis(s, &f.g, &g, id, &err), BTT_OK);
    assert_memory_equal(id, f.id, BTT_LEDGER_ID_LEN);
    assert_string_equal(g.name, "store-contract");

    btt_ledger_store_entry batch[256];
    batch[0] = ct_entry(2);
    assert_int_equal(s->ops->append(s, batch, 1, &err), BTT_EINVAL); /* a gap */
    assert_non_null(strstr(err.msg, "does not continue the log at 1"));
    batch[0] = ct_entry(1);
    batch[1] = ct_entry(3);
    assert_int_equal(s->ops->append(s, batch, 2, &err), BTT_EINVAL); /* a gap inside the batch */
    batch[1] = ct_entry(2);
    batch[1].op_len = BTT_LEDGER_OP_MAX + 1;
    assert_int_equal(s->ops->append(s, batch, 2, &err), BTT_EINVAL); /* out of range: nothing appended */
    assert_int_equal(s->ops->append(s, batch, 0, &err), BTT_OK);

    /* single-entry commits, then batches */
    enum { SINGLES = 200, BATCHES = 20, PER = 256 };
    uint64_t seq = 0;
    double t0 = now_s();
    for (int i = 0; i < SINGLES; i++) {
        btt_ledger_store_entry e = ct_entry(++seq);
        assert_int_equal(s->ops->append(s, &e, 1, &err), BTT_OK);
    }
    double t1 = now_s();
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER; i++) batch[i] = ct_entry(++seq);
        assert_int_equal(s->ops->append(s, batch, PER, &err), BTT_OK);
    }
    double t2 = now_s();
    print_message("append %s: %.0f commits/s of 1 entry, %.0f entries/s in batches of %d\n", pg ? "pg" : "sqlite",
                  SINGLES / (t1 - t0), BATCHES * PER / (t2 - t1), PER);
    batch[0] = ct_entry(seq); /* a seq already in the log */
    assert_int_equal(s->ops->append(s, batch, 1, &err), BTT_EINVAL);

    ct_replay c = {0};
    assert_int_equal(s->ops->replay(s, ct_check, &c, &err), BTT_OK);
    assert_int_equal(c.n, seq);
    c = (ct_replay){.stop_at = 1500};
    assert_int_equal(s->ops->replay(s, ct_check, &c, &err), BTT_ECANCELED);
    assert_int_equal(c.n, 1500);
    btt_ledger_store_close(s);

    /* reopened: the same genesis, the log goes on where it was */
    assert_int_equal(store_open(t.db, false, &s, &err), BTT_OK);
    assert_int_equal(s->ops->genesis(s, &f.g, &g, id, &err), BTT_OK);
    assert_memory_equal(id, f.id, BTT_LEDGER_ID_LEN);
    batch[0] = ct_entry(seq);
    assert_int_equal(s->ops->append(s, batch, 1, &err), BTT_EINVAL);
    for (int i = 0; i < 3; i++) batch[i] = ct_entry(++seq);
    assert_int_equal(s->ops->append(s, batch, 3, &err), BTT_OK);
    c = (ct_replay){0};
    assert_int_equal(s->ops->replay(s, ct_check, &c, &err), BTT_OK);
    assert_int_equal(c.n, seq);
    btt_ledger_store_close(s);
    tdir_rm(&t);
    fx_free(&f);
}

/* Child: submits transfers one by one, writing each acknowledged height to fd. */
#define CRASH_OPS 400
static void crash_child(fx *f, const char *path, int fd)
{
    btt_ledger_store *s = NULL;
    btt_ledger_db *db = NULL;
    btt_error err = {0};
    if (store_open(path, false, &s, &err) != BTT_OK) _exit(2);
    if (btt_ledger_db_open(s, NULL, &db, &err) != BTT_OK) _exit(2);
    for (uint64_t i = 1; i <= CRASH_OPS; i++) {
        btt_amount a;
        if (!btt_amount_from_units(i, &a)) _exit(3);
        btt_ledger_op op;
        btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(f->pool[0]), i);
        op.to = *fx_acct(f->user[i % FX_USERS]);
        op.amount = a;
        if (btt_ledger_op_sign(&op, f->id, f->pool[0]) != BTT_OK) _exit(4);
        btt_ledger_receipt rc;
        if (btt_ledger_db_submit(db, &op, 1, 1000 + i, &rc, &err) != BTT_OK || rc.reason != BTT_LEDGER_OK) _exit(5);
        if (write(fd, &rc.height, sizeof rc.height) != sizeof rc.height) _exit(6);
    }
    btt_ledger_db_close(db);
    _exit(0);
}

static void test_crash(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, "store-crash");
    tdir t;
    tdir_make(&t);
    btt_ledger_db_close(db_open(t.db, true, &f.g));
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    int kill_after = 1 + rand() % 60;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(&f, t.db, fds[1]);
    }
    close(fds[1]);
    uint64_t h = 0, max_ack = 0;
    int got = 0;
    while (got < kill_after && read(fds[0], &h, sizeof h) == (ssize_t)sizeof h) {
        assert_int_equal(h, max_ack + 1);
        max_ack = h;
        got++;
    }
    if (rand() % 2) usleep((useconds_t)(rand() % 3000)); /* land the kill somewhere inside a commit */
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    while (read(fds[0], &h, sizeof h) == (ssize_t)sizeof h) max_ack = h; /* acked before the kill */
    close(fds[0]);
    print_message("crash: seed %u, killed after %d reads, %llu acknowledged\n", seed, kill_after,
                  (unsigned long long)max_ack);

    btt_ledger_db *db = db_open(t.db, false, NULL);
    const btt_ledger *l = btt_ledger_db_ledger(db);
    uint64_t height = btt_ledger_height(l);
    print_message("crash: %llu in the log after reopening\n", (unsigned long long)height);
    assert_true(height >= max_ack);
    /* the reference: the same deterministic ops, as many as the store kept */
    for (uint64_t i = 1; i <= height; i++) {
        btt_ledger_op op;
        btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(f.pool[0]), i);
        op.to = *fx_acct(f.user[i % FX_USERS]);
        op.amount = fx_units(i);
        assert_reason(fx_submit(&f, &op, f.pool[0], 1000 + i, NULL), BTT_LEDGER_OK);
    }
    assert_same_state(f.l, l);
    btt_ledger_db_close(db);
    tdir_rm(&t);
    fx_free(&f);
}

static bool read_pg_conninfo(void)
{
    const char *path = getenv("BTT_TEST_PG_CONNINFO_FILE");
    FILE *fp = path ? fopen(path, "r") : NULL;
    if (!fp) {
        fprintf(stderr, "test_ledger_store pg: no PostgreSQL test server: BTT_TEST_PG_CONNINFO_FILE %s%s%s\n",
                path ? "= " : "is not set", path ? path : "", path ? ": cannot open" : "");
        return false;
    }
    bool ok = fgets(pg_admin, sizeof pg_admin, fp) != NULL;
    fclose(fp);
    pg_admin[strcspn(pg_admin, "\n")] = '\0';
    if (!ok || !pg_admin[0]) fprintf(stderr, "test_ledger_store pg: %s is empty (did the server start?)\n", path);
    return ok && pg_admin[0];
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "sqlite") && strcmp(argv[1], "pg"))) {
        fprintf(stderr, "usage: test_ledger_store sqlite|pg\n");
        return 2;
    }
    pg = strcmp(argv[1], "pg") == 0;
    if (pg && !read_pg_conninfo()) return 1;
    if (sodium_init() < 0) return 1;
#define STORE_TESTS                                                                                              \
    cmocka_unit_test(test_reopen_replays), cmocka_unit_test(test_store_contract), cmocka_unit_test(test_one_owner), \
        cmocka_unit_test(test_failed_append_rolls_back), cmocka_unit_test(test_crash)
    const struct CMUnitTest sqlite_tests[] = {STORE_TESTS, cmocka_unit_test(test_bad_files)};
    const struct CMUnitTest pg_tests[] = {STORE_TESTS, cmocka_unit_test(test_bad_databases)};
    return pg ? cmocka_run_group_tests_name("store_pg", pg_tests, NULL, NULL)
              : cmocka_run_group_tests_name("store_sqlite", sqlite_tests, NULL, NULL);
}
