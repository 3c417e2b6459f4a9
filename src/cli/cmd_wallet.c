/* cmd_wallet.c - btt wallet new|address|check: local wallet files, and the dispatch of the
 * ledger-backed commands balance|faucet|send|channels, which talk to a ledger's HTTP API
 * (`btt ledger serve`, docs/ledger-api.md) and live in cmd_wallet_ledger.c. The password
 * reader here (cli_wallet_password) serves both. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "btt/account.h"
#include "btt/wallet.h"
#include "cli/cli.h"
#include "cli/wallet.h"

#define MAX_PASSWORD CLI_WALLET_MAX_PASSWORD

static const char help[] =
    "usage: btt wallet new FILE [--password-file F]\n"
    "       btt wallet address FILE\n"
    "       btt wallet check FILE [--password-file F]\n"
    "       btt wallet balance FILE [--ledger URL] [--json]\n"
    "       btt wallet faucet FILE [--ledger URL] [--json] [--password-file F]\n"
    "       btt wallet send FILE --to ACCOUNT --amount BTT [--ledger URL] [--json] [--password-file F]\n"
    "       btt wallet channels FILE [--ledger URL] [--json]\n"
    "       btt wallet history FILE [--state-dir DIR] [--json]\n"
    "\n"
    "A wallet is an Ed25519 key pair in a file encrypted with a password (Argon2id,\n"
    "XChaCha20-Poly1305), mode 0600; it is never overwritten. Its account is printed as\n"
    "btt1... (62 characters, with a checksum).\n"
    "\n"
    "  new      create a wallet and print its account\n"
    "  address  print the account alone on one line (no password needed)\n"
    "  check    open the wallet with its password and print the account\n"
    "\n"
    "With a ledger (`btt ledger serve`; --ledger URL, else $BTT_LEDGER, else\n"
    "http://127.0.0.1:8480):\n"
    "  balance   balance, funds locked in channels it pays, open channels, nonce (no password)\n"
    "  faucet    solve the faucet's proof of work (Ctrl-C cancels) and claim its grant, once\n"
    "  send      transfer --amount BTT (decimal, up to 6 places) to account --to\n"
    "  channels  the open channels where it is payer or payee, one per line (no password)\n"
    "  --json    print one JSON object instead (amounts as decimal strings and *_units integers)\n"
    "\n"
    "  history   every BitTorrent Speed channel the wallet paid or was paid through, from the\n"
    "            local Speed book of btt get/seed (no ledger, no password; see its --help)\n"
    "\n"
    "The password comes from --password-file F (its first line), else the environment variable\n"
    "BTT_WALLET_PASSWORD, else a prompt on the terminal (without echo).\n"
    "\n"
    "Exit status: 0 done, 1 the ledger rejected the operation (the reason code is printed),\n"
    "2 bad arguments, a wrong password, an unreadable file or an unreachable ledger.\n";

/* Reads a line from fd with echo off when it is a terminal. Returns its length or -1. */
static long prompt(const char *what, char *buf, size_t cap)
{
    if (!isatty(STDIN_FILENO)) return -1;
    struct termios old, quiet;
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    bool restore = tcgetattr(STDIN_FILENO, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *r = fgets(buf, (int)cap, stdin);
    if (restore) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    if (!r) return -1;
    size_t n = strcspn(buf, "\r\n");
    buf[n] = 0;
    return (long)n;
}

/* The password into buf; confirm asks twice on a terminal. Returns its length or -1 after
 * printing an error. */
long cli_wallet_password(const char *cmd, const char *file, bool confirm, char *buf, size_t cap)
{
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            cli_error(cmd, "%s: %s", file, strerror(errno));
            return -1;
        }
        char *r = fgets(buf, (int)cap, f);
        fclose(f);
        if (!r) {
            cli_error(cmd, "%s: empty password file", file);
            return -1;
        }
        size_t n = strcspn(buf, "\r\n");
        buf[n] = 0;
        return (long)n;
    }
    const char *env = getenv("BTT_WALLET_PASSWORD");
    if (env) {
        size_t n = strlen(env);
        if (n >= cap) {
            cli_error(cmd, "BTT_WALLET_PASSWORD is longer than %d bytes", MAX_PASSWORD - 1);
            return -1;
        }
        memcpy(buf, env, n + 1);
        return (long)n;
    }
    long n = prompt("password", buf, cap);
    if (n < 0) {
        cli_error(cmd, "no password: use --password-file F or set BTT_WALLET_PASSWORD");
        return -1;
    }
    if (confirm) {
        char again[MAX_PASSWORD];
        long m = prompt("password again", again, sizeof again);
        bool same = m == n && memcmp(again, buf, (size_t)n) == 0;
        memset(again, 0, sizeof again);
        if (!same) {
            cli_error(cmd, "the passwords differ");
            return -1;
        }
    }
    return n;
}

int cmd_wallet(int argc, char **argv)
{
    /* the ledger commands have options of their own: hand them over whole */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--password-file")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-') continue;
        if (cli_wallet_is_ledger_command(argv[i])) return cmd_wallet_ledger(argc, argv);
        if (!strcmp(argv[i], "history")) return cmd_wallet_history(argc, argv);
        break;
    }
    static const struct option opts[] = {{"password-file", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *pwfile = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'p') pwfile = optarg;
        else if (c == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("wallet");
        }
    }
    if (optind + 2 != argc) return cli_error("wallet", "expected a command and a FILE; see 'btt wallet --help'");
    const char *sub = argv[optind], *path = argv[optind + 1];
    btt_error err = {0};
    char acct[BTT_ACCOUNT_STR_LEN + 1];
    if (!strcmp(sub, "address")) {
        btt_account a;
        if (btt_wallet_peek_account(path, &a, &err)) return cli_btt_error("wallet", &err);
        puts(btt_account_format(&a, acct));
        return CLI_OK;
    }
    if (strcmp(sub, "new") && strcmp(sub, "check"))
        return cli_error("wallet", "'%s' is not a wallet command; see 'btt wallet --help'", sub);
    bool create = !strcmp(sub, "new");
    if (create && access(path, F_OK) == 0) return cli_error("wallet", "%s: exists; a wallet is never overwritten", path);
    char pw[MAX_PASSWORD];
    long n = cli_wallet_password("wallet", pwfile, create, pw, sizeof pw);
    if (n < 0) return CLI_ERROR;
    if (create && n == 0) {
        memset(pw, 0, sizeof pw);
        return cli_error("wallet", "refusing an empty password");
    }
    btt_wallet *w = NULL;
    btt_err e = create ? btt_wallet_create(path, pw, (size_t)n, NULL, &w, &err)
                       : btt_wallet_open(path, pw, (size_t)n, &w, &err);
    memset(pw, 0, sizeof pw);
    if (e) return cli_btt_error("wallet", &err);
    printf("%s%s\n", create ? "created wallet for " : "ok: ", btt_account_format(btt_wallet_account(w), acct));
    btt_wallet_free(w);
    return CLI_OK;
}
