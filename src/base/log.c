/* log.c - leveled logging to stderr with a monotonic timestamp. */
#include "btt/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static btt_log_level current = BTT_LOG_WARN;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void btt_log_set_level(btt_log_level lvl) { current = lvl; }
btt_log_level btt_log_get_level(void) { return current; }

int btt_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    return -1;
}

void btt_log(btt_log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl > current) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char line[1024];
    int n = snprintf(line, sizeof line, "[%lld.%03ld] %s %s: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
                     level_names[lvl], module);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line); /* one write per line keeps lines whole across threads */
}
