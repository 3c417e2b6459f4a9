/* path.c - safety checks for paths named by torrents, and directory helpers. */
#include "btt/path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_COMPONENT 255

btt_err btt_path_check_component(const char *p, size_t len, btt_error *err)
{
    if (len == 0) return btt_error_set(err, BTT_EPATH, "empty path component is not allowed");
    if (len > MAX_COMPONENT)
        return btt_error_set(err, BTT_EPATH, "path component of %zu bytes is longer than %d", len, MAX_COMPONENT);
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
        return btt_error_set(err, BTT_EPATH, "'%.*s' is not allowed as a path component", (int)len, p);
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '/' || p[i] == '\\')
            return btt_error_set(err, BTT_EPATH, "'%.*s': separator '%c' inside a path component is not allowed",
                                 (int)len, p, p[i]);
        if (p[i] == 0) return btt_error_set(err, BTT_EPATH, "NUL byte inside a path component is not allowed");
    }
    return BTT_OK;
}

char *btt_path_join(const char *dir, const char *rel)
{
    size_t dl = strlen(dir), rl = strlen(rel);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    char *s = malloc(dl + 1 + rl + 1);
    if (!s) return NULL;
    memcpy(s, dir, dl);
    s[dl] = '/';
    memcpy(s + dl + 1, rel, rl + 1);
    return s;
}

btt_err btt_path_mkparents(const char *path, btt_error *err)
{
    char *tmp = strdup(path);
    if (!tmp) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            btt_err e = btt_error_errno(err, errno, tmp);
            free(tmp);
            return e;
        }
        *s = '/';
    }
    free(tmp);
    return BTT_OK;
}
