/* btt/fsutil.h - small durable-file helpers shared by resume data, wallets and the CLI. */
#ifndef BTT_FSUTIL_H
#define BTT_FSUTIL_H

#include <stddef.h>

#include "btt/error.h"

/* Writes all n bytes (retrying short writes and EINTR). BTT_EIO with errno set on failure. */
BTT_WUR btt_err btt_write_all(int fd, const void *p, size_t n);

/* fsyncs the directory holding path, so a rename or link into it is durable. */
BTT_WUR btt_err btt_fsync_parent(const char *path, btt_error *err);

#endif
