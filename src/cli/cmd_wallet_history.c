/* cmd_wallet_history.c - btt wallet history FILE: every BitTorrent Speed channel the wallet paid
 * or was paid through (from the Speed book of a state directory, btt/speed_book.h), with what
 * each torrent moved in it and how it was settled, so every unit spent or earned can be traced.
 * Needs no password and no ledger: the book is local. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "btt/buf.h"
#include "btt/path.h"
#include "btt/speed_book.h"
#include "btt/wallet.h"
#include "cli/cli.h"
#include "cli/wallet.h"

#define CMD "wallet history"

static const char help[] =
    "usage: btt wallet history FILE [--state-dir DIR] [--json]\n"
    "\n"
    "Lists every BitTorrent Speed channel of the wallet's account recorded in the state\n"
    "directory's Speed book: whom it paid or was paid by, the deposit, the best voucher, how it was\n"
    "settled, and what each torrent moved through it. Then the totals.\n"
    "\n"
    "  --state-dir DIR   where btt get/seed kept their state (default: $BTT_STATE_DIR, else\n"
    "                    ~/.local/state/btt)\n"
    "  --json            one JSON object instead of text\n";

typedef struct ctx {
    btt_speed_book *book;
    json_t *list; /* --json */
    btt_amount spent, earned, open_paid, open_earned;
    size_t n;
    btt_error err;
    bool failed;
} ctx;

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void iso(uint64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(out, 32, "%" PRIu64, t);
}

typedef struct flow_ctx {
    json_t *arr;
} flow_ctx;

static void print_flow(const uint8_t ih[20], btt_amount a, uint64_t pieces, void *ud)
{
    flow_ctx *f = ud;
    char h[41], amt[BTT_AMOUNT_STRLEN];
    hex(ih, 20, h);
    btt_amount_format(a, amt);
    if (f->arr) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "info_hash", h, "amount", amt, "amount_units",
                              (json_int_t)btt_amount_units(a), "pieces", (json_int_t)pieces);
        if (o) json_array_append_new(f->arr, o);
    } else {
        printf("    torrent %s: %s BTT in %" PRIu64 " piece%s\n", h, amt, pieces, pieces == 1 ? "" : "s");
    }
}

static void add(btt_amount *sum, btt_amount a)
{
    if (!btt_amount_add(sum, *sum, a)) *sum = BTT_AMOUNT_SUPPLY;
}

static void one(const btt_book_channel *c, void *ud)
{
    ctx *x = ud;
    if (x->failed) return;
    x->n++;
    bool payer = c->role == BTT_BOOK_PAYER, settled = c->state == BTT_BOOK_SETTLED;
    if (payer) add(settled ? &x->spent : &x->open_paid, c->amount);
    else add(settled ? &x->earned : &x->open_earned, settled ? c->settled : c->amount);
    char id[65], peer[BTT_ACCOUNT_STR_LEN + 1], dep[BTT_AMOUNT_STRLEN], amt[BTT_AMOUNT_STRLEN], set[BTT_AMOUNT_STRLEN];
    char opened[32], expiry[32];
    hex(c->id, sizeof c->id, id);
    btt_account_format(&c->peer, peer);
    btt_amount_format(c->deposit, dep);
    btt_amount_format(c->amount, amt);
    btt_amount_format(c->settled, set);
    iso(c->opened, opened);
    iso(c->expiry, expiry);
    flow_ctx f = {NULL};
    if (x->list) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s}", "channel", id, "role",
                              payer ? "payer" : "payee", payer ? "payee" : "payer", peer, "deposit", dep,
                              "deposit_units", (json_int_t)btt_amount_units(c->deposit), "voucher_total", amt,
                              "voucher_total_units", (json_int_t)btt_amount_units(c->amount), "seq", (json_int_t)c->seq,
                              "state", settled ? "settled" : "open", "opened", opened, "expiry", expiry);
        if (!o) return;
        if (settled) {
            json_object_set_new(o, "settled", json_string(set));
            json_object_set_new(o, "settled_units", json_integer((json_int_t)btt_amount_units(c->settled)));
        }
        f.arr = json_array();
        json_object_set_new(o, "torrents", f.arr);
        json_array_append_new(x->list, o);
    } else {
        printf("channel %s\n", id);
        printf("  %s %s\n", payer ? "paying" : "paid by", peer);
        printf("  opened %s, expires %s, deposit %s BTT\n", opened, expiry, dep);
        printf("  vouchers: %s BTT in total (seq %" PRIu64 ")\n", amt, c->seq);
        if (settled) printf("  settled: %s BTT to the payee\n", set);
        else printf("  %s\n", payer ? "open (the seeder settles it, or the deposit comes back after expiry)"
                                    : "open (btt settles it when it next runs)");
    }
    if (btt_speed_book_flows(x->book, c->id, print_flow, &f, &x->err) != BTT_OK) x->failed = true;
}

int cmd_wallet_history(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'j') json = true;
        else if (c == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("wallet");
        }
    }
    /* argv: wallet ... history FILE */
    if (optind + 2 != argc || strcmp(argv[optind], "history"))
        return cli_error(CMD, "expected: btt wallet history FILE; see 'btt wallet history --help'");
    const char *path = argv[optind + 1];
    btt_error err = {0};
    btt_account me;
    if (btt_wallet_peek_account(path, &me, &err)) return cli_btt_error(CMD, &err);

    char dir[4096];
    const char *env = getenv("BTT_STATE_DIR"), *home = getenv("HOME");
    if (state) snprintf(dir, sizeof dir, "%s", state);
    else if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.local/state/btt", home);
    else snprintf(dir, sizeof dir, "/tmp/btt-state");
    char *book_path = btt_path_join(dir, BTT_SPEED_BOOK_FILE);
    if (!book_path) return cli_error(CMD, "out of memory");
    ctx x = {0};
    btt_err e = btt_speed_book_open(book_path, false, &x.book, &err);
    free(book_path);
    if (e == BTT_ENOENT) { /* never used Speed here: an empty history */
        x.book = NULL;
    } else if (e != BTT_OK) {
        return cli_btt_error(CMD, &err);
    }
    if (json) x.list = json_array();
    if (x.book && btt_speed_book_channels(x.book, &me, one, &x, &x.err) != BTT_OK) x.failed = true;
    btt_speed_book_close(x.book);
    if (x.failed) {
        json_decref(x.list);
        return cli_btt_error(CMD, &x.err);
    }
    char acct[BTT_ACCOUNT_STR_LEN + 1], sp[BTT_AMOUNT_STRLEN], ea[BTT_AMOUNT_STRLEN], op[BTT_AMOUNT_STRLEN],
        oe[BTT_AMOUNT_STRLEN];
    btt_account_format(&me, acct);
    btt_amount_format(x.spent, sp);
    btt_amount_format(x.earned, ea);
    btt_amount_format(x.open_paid, op);
    btt_amount_format(x.open_earned, oe);
    if (json) {
        json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s}", "account", acct, "channels", x.list, "spent_settled", sp,
                              "earned_settled", ea, "promised_open", op, "earned_open", oe);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!text) return cli_error(CMD, "out of memory");
        puts(text);
        free(text);
        return CLI_OK;
    }
    if (!x.n) printf("no BitTorrent Speed channels for %s in %s\n", acct, dir);
    printf("total: spent %s BTT and earned %s BTT in settled channels; %s BTT promised and %s BTT earned in open "
           "ones\n",
           sp, ea, op, oe);
    return CLI_OK;
}
