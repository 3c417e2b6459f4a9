/* cmd_info.c - btt info FILE.torrent|MAGNET */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "btt/magnet.h"
#include "btt/metainfo.h"
#include "cli/cli.h"

static const char help[] =
    "usage: btt info FILE.torrent|MAGNET\n"
    "\n"
    "Shows what a torrent holds: name, info-hash, size, pieces, trackers, web seeds and\n"
    "the file list (padding files marked [pad]). A magnet link shows its info-hash, name,\n"
    "trackers, peers and selected files.\n";

static void line(const char *key, const char *val)
{
    printf("%s: ", key);
    cli_put_safe(val);
    putchar('\n');
}

static int show_magnet(const char *uri)
{
    btt_magnet *m;
    btt_error err = {0};
    if (btt_magnet_parse(uri, &m, &err)) return cli_btt_error("info", &err);
    char hex[41];
    btt_hex(m->info_hash, 20, hex);
    line("info-hash", hex);
    if (m->name) line("name", m->name);
    for (size_t i = 0; i < m->num_trackers; i++) line("tracker", m->trackers[i]);
    for (size_t i = 0; i < m->num_peers; i++) line("peer", m->peers[i]);
    if (m->num_select) {
        printf("selected files:");
        for (size_t i = 0; i < m->num_select; i++) printf(" %u", m->select[i]);
        putchar('\n');
    }
    btt_magnet_free(m);
    return CLI_OK;
}

static int show_torrent(const char *path)
{
    btt_metainfo *mi;
    btt_error err = {0};
    if (btt_metainfo_load(path, &mi, &err)) return cli_btt_error("info", &err);
    char hex[41], s[32], num[64];
    btt_metainfo_hash_hex(mi, hex);
    line("name", mi->name);
    line("info-hash", hex);
    snprintf(num, sizeof num, "%llu (%s)", (unsigned long long)mi->total_size, cli_human_size(mi->total_size, s));
    line("size", num);
    snprintf(num, sizeof num, "%u (%s)", mi->piece_length, cli_human_size(mi->piece_length, s));
    line("piece size", num);
    printf("pieces: %u\n", mi->num_pieces);
    line("private", mi->is_private ? "yes" : "no");
    if (mi->comment) line("comment", mi->comment);
    if (mi->created_by) line("created by", mi->created_by);
    if (mi->creation_date > 0) {
        time_t t = (time_t)mi->creation_date;
        struct tm tm;
        char date[64];
        if (gmtime_r(&t, &tm) && strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm)) line("creation date", date);
    }
    for (size_t t = 0; t < mi->num_tiers; t++)
        for (size_t i = 0; i < mi->tiers[t].count; i++) {
            printf("tracker (tier %zu): ", t + 1);
            cli_put_safe(mi->tiers[t].urls[i]);
            putchar('\n');
        }
    for (size_t i = 0; i < mi->num_web_seeds; i++) line("web seed", mi->web_seeds[i]);
    printf("magnet: magnet:?xt=urn:btih:%s\n", hex);
    printf("files: %zu\n", mi->num_files);
    for (size_t i = 0; i < mi->num_files; i++) {
        printf("  %llu ", (unsigned long long)mi->files[i].length);
        cli_put_safe(mi->files[i].path);
        puts(mi->files[i].attr & BTT_FILE_PAD ? " [pad]" : "");
    }
    btt_metainfo_free(mi);
    return CLI_OK;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        }
        return cli_usage_error("info");
    }
    if (optind != argc - 1) return cli_error("info", "expected one FILE.torrent or MAGNET; see 'btt info --help'");
    const char *arg = argv[optind];
    return strncmp(arg, "magnet:", 7) == 0 ? show_magnet(arg) : show_torrent(arg);
}
