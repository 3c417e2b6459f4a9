/* cli_speed.c - the BitTorrent Speed options of btt get and btt seed: parsing, opening the
 * wallet and asking the ledger for its identity and the wallet's balance before the session
 * starts (so a wrong password or a dead ledger is an error at once, not a silent legacy run). */
#include "cli/cli_speed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/ledger_client.h"
#include "btt/speed_price.h"
#include "btt/speed_reserve.h"
#include "cli/cli.h"
#include "cli/wallet.h"

void cli_speed_init(cli_speed *c)
{
    memset(c, 0, sizeof *c);
    c->permille = BTT_SPEED_PERMILLE_MAX;
    c->growth = BTT_RESERVE_GROWTH_DEFAULT;
    c->cap = BTT_RESERVE_CAP_DEFAULT;
}

/* "0.25" -> 250 per mille, exactly (at most three decimals), 0 to 1. */
static bool parse_share(const char *s, uint32_t *out)
{
    uint32_t whole = 0, frac = 0, scale = 1000;
    const char *p = s;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9' && whole < 10) whole = whole * 10 + (uint32_t)(*p++ - '0');
    if (*p == '.') {
        p++;
        for (int d = 0; *p >= '0' && *p <= '9'; d++, p++) {
            if (d >= 3) return false;
            scale /= 10;
            frac += (uint32_t)(*p - '0') * scale;
        }
    }
    if (*p || whole > 1 || (whole == 1 && frac)) return false;
    *out = whole * 1000 + frac;
    return true;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v > max) return false;
    *out = v;
    return true;
}

int cli_speed_option(const char *cmd, cli_speed *c, int opt, const char *arg)
{
    btt_error err = {0};
    switch (opt) {
    case CLI_SPEED_WALLET: c->wallet_path = arg; return CLI_OK;
    case CLI_SPEED_PASSWORD_FILE: c->password_file = arg; return CLI_OK;
    case CLI_SPEED_LEDGER: c->ledger_url = arg; return CLI_OK;
    case CLI_SPEED_SPENDING:
        if (!parse_share(arg, &c->permille))
            return cli_error(cmd, "--spending-rate %s: expected a number from 0 to 1 (at most 3 decimals)", arg);
        return CLI_OK;
    case CLI_SPEED_MAX_SPEND:
        if (btt_amount_parse_cstr(arg, &c->max_spend, &err) != BTT_OK) {
            btt_error_prefix(&err, "--max-spend");
            return cli_btt_error(cmd, &err);
        }
        c->has_max = true;
        return CLI_OK;
    case CLI_SPEED_RESERVE:
    case CLI_SPEED_GROWTH:
    case CLI_SPEED_CAP: {
        uint64_t v;
        const char *name = opt == CLI_SPEED_RESERVE ? "reserve-price" : opt == CLI_SPEED_GROWTH ? "reserve-growth" : "reserve-cap";
        if (!parse_u64(arg, BTT_SUPPLY_UNITS, &v))
            return cli_error(cmd, "--%s %s: expected a whole number of uBTT per KiB", name, arg);
        if (opt == CLI_SPEED_RESERVE) c->reserve = v;
        else if (opt == CLI_SPEED_GROWTH) c->growth = v;
        else c->cap = v;
        return CLI_OK;
    }
    }
    return cli_error(cmd, "unknown Speed option");
}

int cli_speed_setup(const char *cmd, cli_speed *c, btt_session_opts *opts)
{
    if (!c->wallet_path) {
        if (c->ledger_url || c->has_max)
            return cli_error(cmd, "--ledger and --max-spend need --wallet FILE (BitTorrent Speed is off without one)");
        return CLI_OK;
    }
    if (c->cap < c->reserve) c->cap = c->reserve;
    const char *url = c->ledger_url ? c->ledger_url : getenv("BTT_LEDGER");
    snprintf(c->url, sizeof c->url, "%s", url && *url ? url : BTT_LEDGER_CLIENT_URL_DEFAULT);

    char pw[CLI_WALLET_MAX_PASSWORD];
    long n = cli_wallet_password(cmd, c->password_file, false, pw, sizeof pw);
    if (n < 0) return CLI_ERROR;
    btt_error err = {0};
    btt_err e = btt_wallet_open(c->wallet_path, pw, (size_t)n, &c->wallet, &err);
    memset(pw, 0, sizeof pw);
    if (e != BTT_OK) return cli_btt_error(cmd, &err);

    btt_ledger_client *lc = NULL;
    btt_ledger_client_config cfg = {.url = c->url};
    btt_ledger_client_info info;
    btt_ledger_account_info acct = {0};
    bool exists = false;
    if (btt_ledger_client_new(&cfg, &lc, &err) || btt_ledger_client_info_get(lc, &info, &err) ||
        btt_ledger_client_account_get(lc, btt_wallet_account(c->wallet), &acct, &exists, &err)) {
        btt_ledger_client_free(lc);
        btt_error_prefix(&err, "ledger %s", c->url);
        return cli_btt_error(cmd, &err);
    }
    btt_ledger_client_free(lc);

    btt_speed_opts *o = &opts->speed;
    o->wallet = c->wallet;
    memcpy(o->ledger_id, info.ledger_id, sizeof o->ledger_id);
    o->ledger_url = c->url;
    o->spending_permille = c->permille;
    o->budget = exists ? acct.balance : BTT_AMOUNT_ZERO;
    if (c->has_max && btt_amount_cmp(c->max_spend, o->budget) < 0) o->budget = c->max_spend;
    o->reserve_base = c->reserve;
    o->reserve_growth = c->growth;
    o->reserve_cap = c->cap;
    const char *hold = getenv("BTT_SPEED_GUARD_HOLD_MS"); /* for tests and very slow links */
    uint64_t hold_ms;
    if (hold && parse_u64(hold, 3600000, &hold_ms)) o->guard_hold_ms = (uint32_t)hold_ms;
    const char *hour = getenv("BTT_SPEED_RESERVE_HOUR_MS"); /* tests: a faster reserve price clock */
    uint64_t hour_ms;
    if (hour && parse_u64(hour, 3600000, &hour_ms) && hour_ms) o->reserve_hour_ms = (uint32_t)hour_ms;
    char acc[BTT_ACCOUNT_STR_LEN + 1], bal[BTT_AMOUNT_STRLEN], bud[BTT_AMOUNT_STRLEN];
    printf("speed: account %s on ledger %s, balance %s BTT, budget %s BTT, spending rate %u.%03u\n",
           btt_account_format(btt_wallet_account(c->wallet), acc), info.name,
           btt_amount_format(exists ? acct.balance : BTT_AMOUNT_ZERO, bal), btt_amount_format(o->budget, bud),
           c->permille / 1000, c->permille % 1000);
    return CLI_OK;
}

void cli_speed_free(cli_speed *c)
{
    btt_wallet_free(c->wallet);
    c->wallet = NULL;
}
