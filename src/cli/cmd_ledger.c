/* cmd_ledger.c - btt ledger serve: the ledger's HTTP/JSON API (docs/ledger-api.md) over a
 * SQLite or PostgreSQL store. Parses flags, opens the database, starts the server
 * (src/ledger/server.c) and waits for SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btt/ledger_server.h"
#include "btt/ledger_store.h"
#include "cli/cli.h"

#define GENESIS_FILE_MAX 65536

static const char help[] =
    "usage: btt ledger serve (--db FILE | --postgres CONNINFO) [--genesis FILE] [--listen ADDR:PORT]\n"
    "\n"
    "Serves a BTT ledger's HTTP/JSON API (docs/ledger-api.md) from a SQLite or a PostgreSQL\n"
    "database.\n"
    "\n"
    "  --db FILE           a SQLite ledger database (created, mode 0600, if it does not exist)\n"
    "  --postgres CONNINFO a ledger in a PostgreSQL database, e.g. 'host=/run/postgresql\n"
    "                      dbname=ledger' or a postgresql:// URI (its tables are created in an\n"
    "                      empty schema when --genesis is given)\n"
    "  --genesis FILE      the genesis (`key = value` lines); required to create a ledger,\n"
    "                      checked against the recorded one otherwise\n"
    "  --listen ADDR:PORT  where to listen (default " BTT_LEDGER_SERVER_LISTEN_DEFAULT "; [::1]:PORT for IPv6;\n"
    "                      port 0 picks a free one)\n"
    "\n"
    "Prints 'listening on ADDR:PORT' once ready. SIGINT or SIGTERM stops it cleanly: no new\n"
    "connections, requests in progress are finished, the database is closed, exit 0.\n";

static int read_genesis(const char *path, btt_genesis *g)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_error("ledger", "%s: %s", path, strerror(errno));
    char *text = malloc(GENESIS_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return cli_error("ledger", "out of memory");
    }
    size_t n = fread(text, 1, GENESIS_FILE_MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > GENESIS_FILE_MAX) {
        free(text);
        return cli_error("ledger", "%s: %s", path, bad ? "read error" : "larger than 64 KiB");
    }
    btt_error err = {0};
    btt_err e = btt_genesis_parse(text, n, g, &err);
    free(text);
    if (e != BTT_OK) return cli_error("ledger", "%s: %s", path, btt_error_str(&err));
    return CLI_OK;
}

/* Exactly one of db_path (SQLite) and conninfo (PostgreSQL). */
static int serve(const char *db_path, const char *conninfo, const char *genesis_path, const char *listen)
{
    btt_genesis g;
    if (genesis_path && read_genesis(genesis_path, &g) != CLI_OK) return CLI_ERROR;
    bool exists = db_path && access(db_path, F_OK) == 0;
    if (db_path && !exists && !genesis_path)
        return cli_error("ledger", "%s: no such database; --genesis FILE is needed to create one", db_path);

    /* Signals are taken by sigwait on this thread: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    btt_error err = {0};
    btt_ledger_store *store = NULL;
    btt_err e = db_path ? btt_ledger_store_sqlite_open(db_path, !exists, &store, &err)
                        : btt_ledger_store_pg_open(conninfo, genesis_path != NULL, &store, &err);
    if (e == BTT_ENOENT && conninfo)
        return cli_error("ledger", "%s; --genesis FILE is needed to create one", btt_error_str(&err));
    if (e != BTT_OK) return cli_btt_error("ledger", &err);
    btt_ledger_db *db = NULL;
    if (btt_ledger_db_open(store, genesis_path ? &g : NULL, &db, &err) != BTT_OK)
        return cli_error("ledger", "%s: %s", db_path ? db_path : "the PostgreSQL ledger", btt_error_str(&err));
    btt_ledger_server_config cfg = {.listen = listen};
    btt_ledger_server *srv = NULL;
    if (btt_ledger_server_start(db, &cfg, &srv, &err) != BTT_OK) {
        btt_ledger_db_close(db);
        return cli_btt_error("ledger", &err);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("listening on %s\n", btt_ledger_server_address(srv));
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    btt_ledger_server_stop(srv);
    btt_ledger_db_close(db);
    return CLI_OK;
}

int cmd_ledger(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"postgres", required_argument, NULL, 'p'},
                                         {"genesis", required_argument, NULL, 'g'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *conninfo = NULL, *genesis = NULL, *listen = BTT_LEDGER_SERVER_LISTEN_DEFAULT;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd') db = optarg;
        else if (c == 'p') conninfo = optarg;
        else if (c == 'g') genesis = optarg;
        else if (c == 'l') listen = optarg;
        else if (c == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("ledger");
        }
    }
    if (optind >= argc) return cli_error("ledger", "expected a command (serve); see 'btt ledger --help'");
    if (strcmp(argv[optind], "serve"))
        return cli_error("ledger", "'%s' is not a ledger command; see 'btt ledger --help'", argv[optind]);
    if (optind + 1 != argc) return cli_error("ledger", "unexpected argument '%s'", argv[optind + 1]);
    if (!db == !conninfo) return cli_error("ledger", "exactly one of --db FILE and --postgres CONNINFO is required");
    return serve(db, conninfo, genesis, listen);
}
