/* fsutil.c - write everything, make renames durable. */
#include "btt/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

btt_err btt_write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t r = write(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return BTT_EIO;
        if (r == 0) {
            errno = EIO;
            return BTT_EIO;
        }
        b += r;
        n -= (size_t)r;
    }
    return BTT_OK;
}

btt_err btt_fsync_parent(const char *path, btt_error *err)
{
    char *copy = strdup(path);
    if (!copy) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    const char *dir = dirname(copy);
    btt_err e = BTT_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) e = btt_error_errno(err, errno, dir);
    if (fd >= 0) close(fd);
    free(copy);
    return e;
}
