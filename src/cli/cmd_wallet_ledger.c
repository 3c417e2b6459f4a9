/* cmd_wallet_ledger.c - btt wallet balance|faucet|send|channels: a wallet file against a ledger's
 * HTTP API (btt/ledger_client.h). balance and channels need no password (the account is in the
 * file's header); faucet and send open the wallet to sign. Arguments are checked before the
 * password is asked for, and the ledger before the proof of work is started.
 *
 * Exit: 0 done; 1 the ledger rejected the operation (or would: faucet already used or disabled);
 * 2 bad arguments, a wrong password, an unreadable wallet, an unreachable or broken ledger. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "btt/buf.h"
#include "btt/ledger_client.h"
#include "btt/pow.h"
#include "cli/cli.h"
#include "cli/wallet.h"

#define CMD "wallet"

typedef struct opts {
    const char *sub, *path, *pwfile, *ledger, *to, *amount;
    bool json;
} opts;

bool cli_wallet_is_ledger_command(const char *sub)
{
    return !strcmp(sub, "balance") || !strcmp(sub, "faucet") || !strcmp(sub, "send") || !strcmp(sub, "channels");
}

/* ------------------------------------------------------------------ output helpers */

static void json_amount(json_t *o, const char *key, btt_amount a)
{
    char buf[BTT_AMOUNT_STRLEN], ukey[64];
    json_object_set_new(o, key, json_string(btt_amount_format(a, buf)));
    snprintf(ukey, sizeof ukey, "%s_units", key);
    json_object_set_new(o, ukey, json_integer((json_int_t)btt_amount_units(a)));
}

static void json_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    btt_hex(p, n, hex);
    json_object_set_new(o, key, json_string(hex));
}

static void json_acct(json_t *o, const char *key, const btt_account *a)
{
    char s[BTT_ACCOUNT_STR_LEN + 1];
    json_object_set_new(o, key, json_string(btt_account_format(a, s)));
}

/* Prints o on one line and frees it. */
static int print_json(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) return cli_error(CMD, "out of memory");
    puts(text);
    free(text);
    return CLI_OK;
}

static const char *iso_time(uint64_t t, char buf[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t > (uint64_t)INT64_MAX || !gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, 32, "%llu", (unsigned long long)t);
    return buf;
}

static json_t *receipt_json(const btt_ledger_client_receipt *rc)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "request_id", json_string(rc->request_id));
    json_hex(o, "op_id", rc->op_id, sizeof rc->op_id);
    json_object_set_new(o, "type", json_string(btt_ledger_op_type_name(rc->type)));
    json_object_set_new(o, "result", json_string(rc->result));
    json_object_set_new(o, "message", json_string(rc->message));
    json_object_set_new(o, "height", json_integer((json_int_t)rc->height));
    json_object_set_new(o, "time", json_integer((json_int_t)rc->time));
    if (rc->reason != BTT_LEDGER_OK) return o;
    json_amount(o, "amount", rc->amount);
    json_amount(o, "balance", rc->balance);
    if (rc->has_channel) json_hex(o, "channel", rc->channel, sizeof rc->channel);
    if (rc->has_refunded) json_amount(o, "refunded", rc->refunded);
    return o;
}

/* A rejected receipt: the JSON (with --json) on stdout, one line on stderr, exit 1. */
static int rejected(const opts *o, const btt_ledger_client_receipt *rc)
{
    if (o->json) print_json(receipt_json(rc));
    fprintf(stderr, "btt %s: rejected: %s (%s)\n", CMD, rc->result, rc->message);
    return CLI_FAIL;
}

/* ------------------------------------------------------------------ common steps */

static int connect_ledger(const opts *o, btt_ledger_client **c)
{
    btt_ledger_client_config cfg = {0};
    cfg.url = o->ledger;
    btt_error err = {0};
    if (btt_ledger_client_new(&cfg, c, &err)) return cli_btt_error(CMD, &err);
    return CLI_OK;
}

/* Opens the wallet with its password; it must be the account read from the header. */
static int open_wallet(const opts *o, const btt_account *expect, btt_wallet **w)
{
    char pw[CLI_WALLET_MAX_PASSWORD];
    long n = cli_wallet_password(CMD, o->pwfile, false, pw, sizeof pw);
    if (n < 0) return CLI_ERROR;
    btt_error err = {0};
    btt_err e = btt_wallet_open(o->path, pw, (size_t)n, w, &err);
    memset(pw, 0, sizeof pw);
    if (e) return cli_btt_error(CMD, &err);
    if (!btt_account_eq(btt_wallet_account(*w), expect)) {
        btt_wallet_free(*w);
        *w = NULL;
        return cli_error(CMD, "%s: the file changed while it was being read", o->path);
    }
    return CLI_OK;
}

/* Signs op (nonce already set) for the ledger and submits it under a fresh request id. */
static int sign_submit(btt_ledger_client *c, const btt_ledger_client_info *info, const btt_wallet *w,
                       btt_ledger_op *op, btt_ledger_client_receipt *rc)
{
    btt_error err = {0};
    if (btt_ledger_op_sign(op, info->ledger_id, w) != BTT_OK) return cli_error(CMD, "cannot sign the operation");
    char rid[BTT_LEDGER_CLIENT_REQUEST_ID_LEN + 1];
    btt_ledger_client_request_id(rid);
    if (btt_ledger_client_submit(c, rid, op, rc, &err)) return cli_btt_error(CMD, &err);
    return CLI_OK;
}

/* ------------------------------------------------------------------ balance */

static int do_balance(const opts *o, btt_ledger_client *c, const btt_account *a)
{
    btt_error err = {0};
    btt_ledger_account_info info;
    bool exists;
    if (btt_ledger_client_account_get(c, a, &info, &exists, &err)) return cli_btt_error(CMD, &err);
    btt_ledger_client_channels list;
    if (btt_ledger_client_channels_of(c, a, &list, &err)) return cli_btt_error(CMD, &err);
    btt_amount locked = BTT_AMOUNT_ZERO;
    bool overflow = false;
    for (size_t i = 0; i < list.n; i++)
        if (list.v[i].is_payer && !btt_amount_add(&locked, locked, list.v[i].locked)) overflow = true;
    size_t n = list.n;
    bool truncated = list.truncated;
    btt_ledger_client_channels_free(&list);
    if (overflow) return cli_error(CMD, "ledger answer: locked funds exceed the supply");
    if (truncated) fprintf(stderr, "btt %s: the ledger listed only the first %zu channels\n", CMD, n);
    if (o->json) {
        json_t *j = json_object();
        if (!j) return cli_error(CMD, "out of memory");
        json_acct(j, "account", a);
        json_object_set_new(j, "exists", json_boolean(exists));
        json_amount(j, "balance", info.balance);
        json_amount(j, "locked", locked);
        json_object_set_new(j, "channels", json_integer((json_int_t)n));
        json_object_set_new(j, "channels_truncated", json_boolean(truncated));
        json_object_set_new(j, "nonce", json_integer((json_int_t)info.nonce));
        json_object_set_new(j, "faucet_used", json_boolean(info.faucet_used));
        return print_json(j);
    }
    char b1[BTT_AMOUNT_STRLEN], b2[BTT_AMOUNT_STRLEN];
    printf("balance: %s BTT\nlocked: %s BTT\nchannels: %zu\nnonce: %llu\n", btt_amount_format(info.balance, b1),
           btt_amount_format(locked, b2), n, (unsigned long long)info.nonce);
    return CLI_OK;
}

/* ------------------------------------------------------------------ channels */

static int do_channels(const opts *o, btt_ledger_client *c, const btt_account *a)
{
    btt_error err = {0};
    btt_ledger_client_channels list;
    if (btt_ledger_client_channels_of(c, a, &list, &err)) return cli_btt_error(CMD, &err);
    int rc = CLI_OK;
    if (o->json) {
        json_t *j = json_object(), *arr = json_array();
        for (size_t i = 0; j && arr && i < list.n; i++) {
            const btt_ledger_client_channel *ch = &list.v[i];
            json_t *x = json_object();
            if (!x) break;
            json_hex(x, "id", ch->info.id, sizeof ch->info.id);
            json_acct(x, "payer", &ch->info.payer);
            json_acct(x, "payee", &ch->info.payee);
            json_amount(x, "deposit", ch->info.deposit);
            json_amount(x, "claimed", ch->info.claimed);
            json_amount(x, "locked", ch->locked);
            json_object_set_new(x, "seq", json_integer((json_int_t)ch->info.seq));
            json_object_set_new(x, "expiry", json_integer((json_int_t)ch->info.expiry));
            json_object_set_new(x, "state", json_string(ch->expired ? "expired" : "open"));
            json_object_set_new(x, "role", json_string(ch->is_payer ? "payer" : "payee"));
            json_array_append_new(arr, x);
        }
        if (j && arr) {
            json_acct(j, "account", a);
            json_object_set_new(j, "channels", arr);
            json_object_set_new(j, "truncated", json_boolean(list.truncated));
            rc = print_json(j);
        } else {
            json_decref(j);
            json_decref(arr);
            rc = cli_error(CMD, "out of memory");
        }
    } else {
        for (size_t i = 0; i < list.n; i++) {
            const btt_ledger_client_channel *ch = &list.v[i];
            char id[2 * BTT_CHANNEL_ID_LEN + 1], other[BTT_ACCOUNT_STR_LEN + 1], t[32];
            char d[BTT_AMOUNT_STRLEN], cl[BTT_AMOUNT_STRLEN], lk[BTT_AMOUNT_STRLEN];
            btt_hex(ch->info.id, sizeof ch->info.id, id);
            btt_account_format(ch->is_payer ? &ch->info.payee : &ch->info.payer, other);
            printf("%s %s %s deposit=%s claimed=%s locked=%s seq=%llu expiry=%s %s\n", id,
                   ch->is_payer ? "payer" : "payee", other, btt_amount_format(ch->info.deposit, d),
                   btt_amount_format(ch->info.claimed, cl), btt_amount_format(ch->locked, lk),
                   (unsigned long long)ch->info.seq, iso_time(ch->info.expiry, t), ch->expired ? "expired" : "open");
        }
        if (list.truncated) fprintf(stderr, "btt %s: the ledger listed only the first %zu channels\n", CMD, list.n);
    }
    btt_ledger_client_channels_free(&list);
    return rc;
}

/* ------------------------------------------------------------------ faucet */

static atomic_bool canceled;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&canceled, true);
}

typedef struct pow_progress {
    unsigned bits;
    bool tty, shown;
    uint64_t last_ns;
} pow_progress;

static void on_pow_progress(uint64_t tried, void *ud)
{
    pow_progress *p = ud;
    uint64_t now = cli_now_ns();
    if (now - p->last_ns < (p->tty ? 200000000u : 5000000000u)) return;
    p->last_ns = now;
    uint64_t expected = p->bits >= 64 ? UINT64_MAX : UINT64_C(1) << p->bits;
    uint64_t pct = expected >= 100 ? tried / (expected / 100) : tried * 100 / expected;
    fprintf(stderr, "%ssolving proof of work: 2^%u expected, %llu tried (%llu%%)%s", p->tty ? "\r\033[K" : "",
            p->bits, (unsigned long long)tried, (unsigned long long)pct, p->tty ? "" : "\n");
    fflush(stderr);
    p->shown = true;
}

static int do_faucet(const opts *o, btt_ledger_client *c, const btt_account *a)
{
    btt_error err = {0};
    btt_ledger_client_info info;
    if (btt_ledger_client_info_get(c, &info, &err)) return cli_btt_error(CMD, &err);
    if (btt_amount_is_zero(info.faucet_grant)) {
        fprintf(stderr, "btt %s: rejected: faucet-empty (the faucet of ledger '%s' is disabled)\n", CMD, info.name);
        return CLI_FAIL;
    }
    btt_ledger_account_info acct;
    bool exists;
    if (btt_ledger_client_account_get(c, a, &acct, &exists, &err)) return cli_btt_error(CMD, &err);
    if (acct.faucet_used) {
        fprintf(stderr, "btt %s: rejected: faucet-used (%s)\n", CMD, btt_ledger_reason_message(BTT_LEDGER_FAUCET_USED));
        return CLI_FAIL;
    }
    btt_wallet *w = NULL;
    int rc = open_wallet(o, a, &w);
    if (rc) return rc;

    /* Ctrl-C stops the search (the flag is polled every BTT_POW_PROGRESS_EVERY attempts) */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pow_progress pp = {info.faucet_bits, isatty(STDERR_FILENO) == 1, false, 0}; /* first line at once */
    uint64_t work = 0, start;
    randombytes_buf(&start, sizeof start);  /* a random start: two runs never search the same nonces */
    start &= (UINT64_C(1) << 62) - 1;       /* and leave room to search upwards within INT64_MAX */
    btt_err e = btt_pow_solve(info.ledger_id, a, info.faucet_bits, start, on_pow_progress, &pp, &canceled, &work, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (pp.shown && pp.tty) fputs("\r\033[K", stderr);
    if (e == BTT_ECANCELED) {
        btt_wallet_free(w);
        return cli_error(CMD, "canceled: nothing was submitted");
    }
    if (e) {
        btt_wallet_free(w);
        return cli_btt_error(CMD, &err);
    }
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_FAUCET, a, acct.nonce + 1);
    op.work = work;
    btt_ledger_client_receipt r;
    rc = sign_submit(c, &info, w, &op, &r);
    btt_wallet_free(w);
    if (rc) return rc;
    if (r.reason != BTT_LEDGER_OK) return rejected(o, &r);
    if (o->json) return print_json(receipt_json(&r));
    char b1[BTT_AMOUNT_STRLEN], b2[BTT_AMOUNT_STRLEN], id[65];
    btt_hex(r.op_id, sizeof r.op_id, id);
    printf("granted: %s BTT\nbalance: %s BTT\nop: %s\n", btt_amount_format(r.amount, b1),
           btt_amount_format(r.balance, b2), id);
    return CLI_OK;
}

/* ------------------------------------------------------------------ send */

static int do_send(const opts *o, btt_ledger_client *c, const btt_account *a, const btt_account *to, btt_amount amount)
{
    btt_error err = {0};
    btt_ledger_client_info info;
    if (btt_ledger_client_info_get(c, &info, &err)) return cli_btt_error(CMD, &err);
    btt_ledger_account_info acct;
    bool exists;
    if (btt_ledger_client_account_get(c, a, &acct, &exists, &err)) return cli_btt_error(CMD, &err);
    btt_wallet *w = NULL;
    int rc = open_wallet(o, a, &w);
    if (rc) return rc;
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, a, acct.nonce + 1);
    op.to = *to;
    op.amount = amount;
    btt_ledger_client_receipt r;
    rc = sign_submit(c, &info, w, &op, &r);
    btt_wallet_free(w);
    if (rc) return rc;
    if (r.reason != BTT_LEDGER_OK) return rejected(o, &r);
    if (o->json) {
        json_t *j = receipt_json(&r);
        if (j) json_acct(j, "to", to);
        return print_json(j);
    }
    char b1[BTT_AMOUNT_STRLEN], b2[BTT_AMOUNT_STRLEN], id[65], name[BTT_ACCOUNT_STR_LEN + 1];
    btt_hex(r.op_id, sizeof r.op_id, id);
    printf("sent: %s BTT to %s\nbalance: %s BTT\nop: %s\n", btt_amount_format(r.amount, b1),
           btt_account_format(to, name), btt_amount_format(r.balance, b2), id);
    return CLI_OK;
}

/* ------------------------------------------------------------------ entry */

int cmd_wallet_ledger(int argc, char **argv)
{
    static const struct option longopts[] = {{"password-file", required_argument, NULL, 'p'},
                                             {"ledger", required_argument, NULL, 'l'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"to", required_argument, NULL, 't'},
                                             {"amount", required_argument, NULL, 'a'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    opts o = {0};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p': o.pwfile = optarg; break;
        case 'l': o.ledger = optarg; break;
        case 'j': o.json = true; break;
        case 't': o.to = optarg; break;
        case 'a': o.amount = optarg; break;
        case 'h': {
            char *args[] = {argv[0], "--help", NULL};
            return cmd_wallet(2, args);
        }
        default: return cli_usage_error(CMD);
        }
    }
    if (optind + 2 != argc) return cli_error(CMD, "expected a command and a FILE; see 'btt wallet --help'");
    o.sub = argv[optind];
    o.path = argv[optind + 1];
    bool send = !strcmp(o.sub, "send");
    if (!send && (o.to || o.amount)) return cli_error(CMD, "--to and --amount are for 'wallet send'");
    if (!send && o.pwfile && (!strcmp(o.sub, "balance") || !strcmp(o.sub, "channels")))
        o.pwfile = NULL; /* harmless: these need no password */
    if (!o.ledger) o.ledger = getenv("BTT_LEDGER");
    if (!o.ledger || !*o.ledger) o.ledger = BTT_LEDGER_CLIENT_URL_DEFAULT;

    btt_error err = {0};
    btt_account to;
    btt_amount amount = BTT_AMOUNT_ZERO;
    if (send) {
        if (!o.to || !o.amount) return cli_error(CMD, "send needs --to ACCOUNT and --amount BTT");
        if (btt_account_parse_cstr(o.to, &to, &err)) return cli_error(CMD, "--to: %s", btt_error_str(&err));
        if (btt_amount_parse_cstr(o.amount, &amount, &err)) return cli_error(CMD, "--amount: %s", btt_error_str(&err));
        if (btt_amount_is_zero(amount)) return cli_error(CMD, "--amount: must be positive");
    }
    btt_account a;
    if (btt_wallet_peek_account(o.path, &a, &err)) return cli_btt_error(CMD, &err);
    btt_ledger_client *c = NULL;
    int rc = connect_ledger(&o, &c);
    if (rc) return rc;
    if (!strcmp(o.sub, "balance")) rc = do_balance(&o, c, &a);
    else if (!strcmp(o.sub, "channels")) rc = do_channels(&o, c, &a);
    else if (!strcmp(o.sub, "faucet")) rc = do_faucet(&o, c, &a);
    else rc = do_send(&o, c, &a, &to, amount);
    btt_ledger_client_free(c);
    return rc;
}
