/* util.c - error output, sizes and progress lines for the CLI. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "btt %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_btt_error(const char *cmd, const btt_error *err) { return cli_error(cmd, "%s", btt_error_str(err)); }

int cli_usage_error(const char *cmd)
{
    fprintf(stderr, "btt %s: see 'btt %s --help'\n", cmd, cmd);
    return CLI_ERROR;
}

const char *cli_human_size(uint64_t bytes, char *buf)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    int u = 0;
    uint64_t whole = bytes, rem = 0;
    while (whole >= 1024 && u < 6) {
        rem = whole % 1024;
        whole /= 1024;
        u++;
    }
    snprintf(buf, 32, "%llu.%02llu %s", (unsigned long long)whole, (unsigned long long)(rem * 100 / 1024), units[u]);
    return buf;
}

uint64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, const char *what)
{
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
    p->start_ns = p->last_ns = cli_now_ns();
}

void cli_progress_update(void *ud, uint32_t done, uint32_t total)
{
    cli_progress *p = ud;
    uint64_t now = cli_now_ns();
    if (!p->tty || (now - p->last_ns < 200000000u && done != total)) return;
    p->last_ns = now;
    fprintf(stderr, "\r%s: %u/%u pieces (%u%%)", p->what, done, total,
            total ? (unsigned)((uint64_t)done * 100 / total) : 100);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty) fputs("\r\033[K", stderr);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static int utf8_len(const unsigned char *p)
{
    int n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 2 && p[0] < 0xc2) return 0; /* overlong */
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || p[0] > 0xf4 || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

void cli_put_safe(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_len(p);
        if (n == 0 || *p < 0x20 || *p == 0x7f) {
            printf("\\x%02x", *p);
            p++;
        } else {
            fwrite(p, 1, (size_t)n, stdout);
            p += n;
        }
    }
}
