/* main.c - the btt command: git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "btt/hasher.h"
#include "cli/cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"create", cmd_create, "make a .torrent from a file or directory"},
    {"info", cmd_info, "show what a .torrent or magnet link holds"},
    {"verify", cmd_verify, "check downloaded data against a .torrent"},
    {"get", cmd_get, "download a torrent (and optionally keep seeding)"},
    {"seed", cmd_seed, "verify a torrent's data and serve it to peers"},
    {"wallet", cmd_wallet, "wallets: new, address, check; balance, faucet, send, channels on a ledger"},
    {"ledger", cmd_ledger, "run the BTT ledger's HTTP API server"},
    {"tracker", cmd_tracker, "run a BitTorrent tracker (HTTP, UDP, bidannounce)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: btt [--version] [--help] <command> [<args>]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'btt <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    btt_hasher_setup_threads(); /* before libuv's thread pool first starts */
    if (argc < 2) {
        usage(stderr);
        return CLI_ERROR;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("btt %s\n", BTT_VERSION);
        return CLI_OK;
    }
    if (!strcmp(cmd, "help") && argc > 2) {
        char *args[] = {argv[2], "--help", NULL};
        argv = args;
        argc = 2;
        cmd = args[0];
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc, argv);
    } else {
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "btt: '%s' is not a btt command; see 'btt --help'\n", cmd);
    return CLI_ERROR;
}
