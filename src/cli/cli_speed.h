/* cli_speed.h - BitTorrent Speed options of btt get and btt seed (internal to the CLI). */
#ifndef BTT_CLI_SPEED_H
#define BTT_CLI_SPEED_H

#include <getopt.h>
#include <stdbool.h>

#include "btt/session.h"
#include "btt/wallet.h"

/* getopt_long ids of the Speed options (above any short option character) */
enum {
    CLI_SPEED_WALLET = 1000,
    CLI_SPEED_PASSWORD_FILE,
    CLI_SPEED_LEDGER,
    CLI_SPEED_SPENDING,
    CLI_SPEED_MAX_SPEND,
    CLI_SPEED_RESERVE,
    CLI_SPEED_GROWTH,
    CLI_SPEED_CAP,
};

#define CLI_SPEED_OPTIONS                                                                        \
    {"wallet", required_argument, NULL, CLI_SPEED_WALLET},                                      \
        {"password-file", required_argument, NULL, CLI_SPEED_PASSWORD_FILE},                    \
        {"ledger", required_argument, NULL, CLI_SPEED_LEDGER},                                  \
        {"spending-rate", required_argument, NULL, CLI_SPEED_SPENDING},                         \
        {"max-spend", required_argument, NULL, CLI_SPEED_MAX_SPEND},                            \
        {"reserve-price", required_argument, NULL, CLI_SPEED_RESERVE},                          \
        {"reserve-growth", required_argument, NULL, CLI_SPEED_GROWTH},                          \
        {"reserve-cap", required_argument, NULL, CLI_SPEED_CAP}

#define CLI_SPEED_HELP                                                                            \
    "\n"                                                                                          \
    "BitTorrent Speed (docs/speed-protocol.md; off unless --wallet is given):\n"                   \
    "      --wallet FILE         pay and be paid in BTT from this wallet (password: --password-file,\n" \
    "                            $BTT_WALLET_PASSWORD or a prompt)\n"                                  \
    "      --ledger URL          the ledger's API (default $BTT_LEDGER, else http://127.0.0.1:8480)\n" \
    "      --spending-rate X     AutoBid: bid this share of the budget, 0 to 1 (default 1)\n"          \
    "      --max-spend BTT       lock and pay at most this much in this run (default: the whole\n"      \
    "                            balance); then stop bidding and go on without paying\n"               \
    "      --reserve-price N     seeding: lowest price, in uBTT per KiB (default 0)\n"                  \
    "      --reserve-growth N    seeding: + N uBTT/KiB per hour nobody else held the torrent (default 1)\n" \
    "      --reserve-cap N       seeding: the reserve price never exceeds N uBTT/KiB (default 100)\n"   \
    "  Prices are in uBTT (10^-6 BTT) per KiB of data: 1 uBTT/KiB is about 1.05 BTT per GiB.\n"

typedef struct cli_speed {
    const char *wallet_path, *password_file, *ledger_url;
    uint32_t permille;
    bool has_max;
    btt_amount max_spend;
    uint64_t reserve, growth, cap;
    btt_wallet *wallet;
    char url[512];
} cli_speed;

void cli_speed_init(cli_speed *c);
/* Handles one of the options above; CLI_OK, or CLI_ERROR after printing why. */
int cli_speed_option(const char *cmd, cli_speed *c, int opt, const char *arg);
/* With --wallet: opens the wallet, asks the ledger for its id and the balance, and fills
 * opts->speed; prints one "speed: ..." line. Without: nothing. CLI_OK or CLI_ERROR. */
int cli_speed_setup(const char *cmd, cli_speed *c, btt_session_opts *opts);
void cli_speed_free(cli_speed *c);

#endif
