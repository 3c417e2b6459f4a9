/* wallet.h - what cmd_wallet.c and cmd_wallet_ledger.c share (internal to the CLI). */
#ifndef BTT_CLI_WALLET_H
#define BTT_CLI_WALLET_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_WALLET_MAX_PASSWORD 1024

/* The password into buf: --password-file F's first line, else $BTT_WALLET_PASSWORD, else a
 * prompt without echo (twice when confirm). Returns its length, or -1 after printing an error. */
long cli_wallet_password(const char *cmd, const char *file, bool confirm, char *buf, size_t cap);

/* balance, faucet, send, channels */
bool cli_wallet_is_ledger_command(const char *sub);
/* btt wallet <ledger command> FILE [options]: argv as given to cmd_wallet. */
int cmd_wallet_ledger(int argc, char **argv);

#endif
