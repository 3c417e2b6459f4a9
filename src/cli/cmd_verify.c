/* cmd_verify.c - btt verify FILE.torrent -d DIR */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "btt/bitfield.h"
#include "btt/hasher.h"
#include "btt/metainfo.h"
#include "btt/storage.h"
#include "cli/cli.h"

static const char help[] =
    "usage: btt verify FILE.torrent -d DIR [-q]\n"
    "\n"
    "Hashes the data of a torrent found in DIR (DIR/NAME for a single file, DIR/NAME/... for\n"
    "several) on all cores. Exits 0 when every piece is present and correct, 1 when some are\n"
    "bad or missing (naming the files they touch), 2 on bad input.\n"
    "\n"
    "  -d, --dir DIR   directory holding the data (default: .)\n"
    "  -q, --quiet     print only problems\n"
    "  -h, --help      this help\n";

#define MAX_FILES_LISTED 50

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = ".";
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage_error("verify");
        }
    }
    if (optind != argc - 1) return cli_error("verify", "expected one FILE.torrent; see 'btt verify --help'");

    struct stat sb;
    if (stat(dir, &sb) != 0) return cli_error("verify", "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return cli_error("verify", "%s: not a directory", dir);

    btt_error err = {0};
    btt_metainfo *mi;
    if (btt_metainfo_load(argv[optind], &mi, &err)) return cli_btt_error("verify", &err);
    btt_storage *st = NULL;
    btt_bitfield have = {0};
    uint8_t *per_piece = malloc(mi->num_pieces);
    int rc = CLI_ERROR;
    if (!per_piece || btt_bitfield_init(&have, mi->num_pieces)) {
        cli_error("verify", "out of memory");
        goto out;
    }
    if (btt_storage_open(mi, dir, BTT_STORAGE_READONLY, &st, &err)) {
        cli_btt_error("verify", &err);
        goto out;
    }
    cli_progress prog;
    cli_progress_init(&prog, "verifying");
    btt_scan_result res;
    btt_err e = btt_hash_scan(st, mi, &have, per_piece, &res, quiet ? NULL : cli_progress_update, &prog, &err);
    if (!quiet) cli_progress_end(&prog);
    if (e) {
        cli_btt_error("verify", &err);
        goto out;
    }
    double secs = (double)(cli_now_ns() - prog.start_ns) / 1e9;
    if (res.good == mi->num_pieces) {
        if (!quiet) {
            char s[32];
            printf("ok: all %u pieces of %s verified (%s in %.2f s, %.0f MB/s)\n", mi->num_pieces, mi->name,
                   cli_human_size(mi->total_size, s), secs, secs > 0 ? (double)mi->total_size / secs / 1e6 : 0.0);
        }
        rc = CLI_OK;
        goto out;
    }

    printf("FAILED: %u of %u pieces bad or missing (%u bad, %u missing, %u unreadable)\n",
           mi->num_pieces - res.good, mi->num_pieces, res.bad, res.missing, res.io_errors);
    /* Per file: count bad, missing and unreadable pieces touching it. */
    uint32_t(*per_file)[3] = calloc(mi->num_files, sizeof *per_file);
    if (per_file) {
        for (uint32_t i = 0; i < mi->num_pieces; i++) {
            if (per_piece[i] == BTT_OK) continue;
            int kind = per_piece[i] == BTT_EHASH ? 0 : per_piece[i] == BTT_ENOENT ? 1 : 2;
            size_t first, last;
            btt_metainfo_piece_files(mi, i, &first, &last);
            for (size_t f = first; f <= last && f < mi->num_files; f++)
                if (!(mi->files[f].attr & BTT_FILE_PAD) && mi->files[f].length) per_file[f][kind]++;
        }
        size_t listed = 0, affected = 0;
        for (size_t f = 0; f < mi->num_files; f++) {
            if (!per_file[f][0] && !per_file[f][1] && !per_file[f][2]) continue;
            affected++;
            if (listed++ < MAX_FILES_LISTED) {
                printf("  ");
                cli_put_safe(mi->files[f].path);
                printf(": pieces %u bad, %u missing, %u unreadable\n", per_file[f][0], per_file[f][1], per_file[f][2]);
            }
        }
        if (affected > MAX_FILES_LISTED) printf("  ... and %zu more files\n", affected - MAX_FILES_LISTED);
    }
    free(per_file);
    rc = CLI_FAIL;
out:
    free(per_piece);
    btt_bitfield_free(&have);
    btt_storage_close(st);
    btt_metainfo_free(mi);
    return rc;
}
