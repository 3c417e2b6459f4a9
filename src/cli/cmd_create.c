/* cmd_create.c - btt create PATH -o OUT.torrent ... */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btt/fsutil.h"
#include "btt/metainfo.h"
#include "cli/cli.h"

#define MAX_LIST 256

static const char help[] =
    "usage: btt create PATH -o OUT.torrent [options]\n"
    "\n"
    "Makes a .torrent (BitTorrent v1) from a file or a directory. Pieces are hashed on all cores.\n"
    "\n"
    "  -o, --output FILE       where to write the torrent (required)\n"
    "  -t, --tracker URL       announce URL; repeat for more, each its own tier (BEP 12)\n"
    "  -p, --piece-size KIB    piece size in KiB, a power of two from 16 to 65536\n"
    "                          (default: automatic, about 2048 pieces at most)\n"
    "      --private           set the private flag (BEP 27): trackers only, no DHT or PEX\n"
    "  -c, --comment TEXT      comment\n"
    "  -w, --web-seed URL      web seed (BEP 19 url-list); repeatable\n"
    "      --created-by TEXT   'created by' field (default: btt/VERSION)\n"
    "      --no-date           leave out the creation date (reproducible output)\n"
    "  -f, --force             overwrite OUT if it exists\n"
    "  -q, --quiet             print nothing on success\n"
    "  -h, --help              this help\n";

static btt_err write_file_atomic(const char *path, const uint8_t *data, size_t len, bool force, btt_error *err)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    snprintf(tmp, pl + 16, "%s.tmp%ld", path, (long)getpid() % 100000);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    btt_err e = BTT_OK;
    if (fd < 0) {
        e = btt_error_errno(err, errno, path); /* the user named path, not our temporary file */
        free(tmp);
        return e;
    }
    if (btt_write_all(fd, data, len) || fsync(fd) != 0) e = btt_error_errno(err, errno, path);
    close(fd);
    if (!e && !force && access(path, F_OK) == 0) e = btt_error_set(err, BTT_EINVAL, "%s: exists (use -f to replace it)", path);
    if (!e && rename(tmp, path) != 0) e = btt_error_errno(err, errno, path);
    if (e) unlink(tmp);
    free(tmp);
    return e;
}

int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},   {"tracker", required_argument, NULL, 't'},
        {"piece-size", required_argument, NULL, 'p'}, {"private", no_argument, NULL, 'P'},
        {"comment", required_argument, NULL, 'c'},  {"web-seed", required_argument, NULL, 'w'},
        {"created-by", required_argument, NULL, 'C'}, {"no-date", no_argument, NULL, 'D'},
        {"force", no_argument, NULL, 'f'},          {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *out = NULL, *trackers[MAX_LIST], *seeds[MAX_LIST];
    btt_create_opts o = {0};
    bool force = false, quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:p:c:w:fqh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 't':
            if (o.num_trackers == MAX_LIST) return cli_error("create", "too many trackers");
            trackers[o.num_trackers++] = optarg;
            break;
        case 'p': {
            char *end;
            errno = 0;
            unsigned long kib = strtoul(optarg, &end, 10);
            if (errno || *end || kib < 16 || kib > 65536 || (kib & (kib - 1)))
                return cli_error("create", "--piece-size %s: must be a power of two from 16 to 65536 (KiB)", optarg);
            o.piece_length = (uint32_t)kib * 1024;
            break;
        }
        case 'P': o.is_private = true; break;
        case 'c': o.comment = optarg; break;
        case 'w':
            if (o.num_web_seeds == MAX_LIST) return cli_error("create", "too many web seeds");
            seeds[o.num_web_seeds++] = optarg;
            break;
        case 'C': o.created_by = optarg; break;
        case 'D': o.creation_date = -1; break;
        case 'f': force = true; break;
        case 'q': quiet = true; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage_error("create");
        }
    }
    if (optind != argc - 1) return cli_error("create", "expected exactly one PATH; see 'btt create --help'");
    if (!out) return cli_error("create", "missing -o OUT.torrent; see 'btt create --help'");
    if (!force && access(out, F_OK) == 0) return cli_error("create", "%s: exists (use -f to replace it)", out);
    o.trackers = trackers;
    o.web_seeds = seeds;

    cli_progress prog;
    cli_progress_init(&prog, "hashing");
    if (!quiet) {
        o.progress = cli_progress_update;
        o.progress_ud = &prog;
    }
    btt_buf b;
    btt_buf_init(&b, (size_t)1 << 30);
    btt_metainfo *mi = NULL;
    btt_error err = {0};
    btt_err e = btt_metainfo_create(argv[optind], &o, &b, &mi, &err);
    if (!quiet) cli_progress_end(&prog);
    if (!e) e = write_file_atomic(out, b.data, b.len, force, &err);
    btt_buf_free(&b);
    if (e) {
        btt_metainfo_free(mi);
        return cli_btt_error("create", &err);
    }
    if (!quiet) {
        char hex[41], s1[32], s2[32];
        btt_metainfo_hash_hex(mi, hex);
        double secs = (double)(cli_now_ns() - prog.start_ns) / 1e9;
        printf("created %s: %s, %zu file%s, %s in %u pieces of %s, %.1f s\ninfo-hash: %s\n", out, mi->name,
               mi->num_files, mi->num_files == 1 ? "" : "s", cli_human_size(mi->total_size, s1), mi->num_pieces,
               cli_human_size(mi->piece_length, s2), secs, hex);
    }
    btt_metainfo_free(mi);
    return CLI_OK;
}
