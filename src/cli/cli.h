/* cli.h - shared helpers of the btt subcommands (internal to the CLI). */
#ifndef BTT_CLI_H
#define BTT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "btt/error.h"

/* Exit codes: 0 success, 1 the checked thing is not as it should be (verify found bad data),
 * 2 bad input or another error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_ERROR = 2 };

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_wallet(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_tracker(int argc, char **argv);
int cmd_wallet_history(int argc, char **argv); /* btt wallet history FILE (the Speed book) */

/* Prints "btt <cmd>: <message>" on stderr and returns CLI_ERROR. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_btt_error(const char *cmd, const btt_error *err);
/* Prints a usage hint for a bad option and returns CLI_ERROR. */
int cli_usage_error(const char *cmd);

/* "1.5 MiB" style. Writes into buf (at least 32 bytes) and returns it. */
const char *cli_human_size(uint64_t bytes, char *buf);

/* A progress line on a terminal (rewritten in place), or nothing when stderr is not one. */
typedef struct cli_progress {
    const char *what;
    bool tty;
    uint64_t start_ns, last_ns;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *what);
void cli_progress_update(void *p, uint32_t done, uint32_t total);
void cli_progress_end(cli_progress *p);

uint64_t cli_now_ns(void);

/* Prints text from a torrent or a peer to stdout with control characters and invalid UTF-8
 * escaped (\xNN), so a hostile name cannot drive the terminal. */
void cli_put_safe(const char *s);

#endif
