/* btt/error.h - one numbered error enum, its names and messages from a single list.
 *
 * Fallible functions return btt_err (BTT_OK is 0) and optionally fill a btt_error with
 * human context ("info.files[3].path: '..' is not allowed"). Passing NULL means the
 * caller does not want the context. */
#ifndef BTT_ERROR_H
#define BTT_ERROR_H

#include <stddef.h>

#define BTT_WUR __attribute__((warn_unused_result))

/* X(name, message) */
#define BTT_ERRNO_MAP(X)                                                   \
    X(OK, "success")                                                       \
    X(NOMEM, "out of memory")                                              \
    X(INVAL, "invalid argument")                                           \
    X(RANGE, "value out of range")                                         \
    X(OVERFLOW, "integer overflow")                                        \
    X(TOOBIG, "size limit exceeded")                                       \
    X(BENCODE, "malformed bencoding")                                      \
    X(METAINFO, "invalid torrent")                                         \
    X(MAGNET, "invalid magnet link")                                       \
    X(PATH, "unsafe path")                                                 \
    X(IO, "input/output error")                                            \
    X(NOENT, "no such file or directory")                                  \
    X(HASH, "hash mismatch")                                               \
    X(RESUME, "resume data rejected")                                      \
    X(CANCELED, "operation canceled")                                      \
    X(PROTO, "protocol violation by the remote side")                      \
    X(TRACKER, "tracker error")                                            \
    X(TIMEDOUT, "timed out")                                               \
    X(NET, "network error")                                                \
    X(BANNED, "peer is banned")                                            \
    X(AUTH, "wrong password or damaged wallet")                            \
    X(LEDGER, "ledger rejected the operation")                             \
    X(WALLET, "not a btt wallet file")                                     \
    X(VERSION, "unsupported format version")                               \
    X(EXIST, "already exists")

typedef enum btt_err {
#define BTT_X_ENUM(name, msg) BTT_E##name,
    BTT_ERRNO_MAP(BTT_X_ENUM)
#undef BTT_X_ENUM
        BTT_ERR_COUNT
} btt_err;

#define BTT_OK BTT_EOK

/* Human context for an error; messages are truncated to fit. */
typedef struct btt_error {
    btt_err code;
    char msg[512];
} btt_error;

/* "BTT_EHASH" style name and a fixed English message for a code. Never NULL. */
const char *btt_err_name(btt_err code);
const char *btt_err_message(btt_err code);

/* Records code and a printf-style message in err (if err is non-NULL) and returns code,
 * so a failing path reads: return btt_error_set(err, BTT_EPATH, "...", ...); */
btt_err btt_error_set(btt_error *err, btt_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "prefix: " (used to add context on the way up). */
void btt_error_prefix(btt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets err from an errno value: "<what>: <strerror>", mapping ENOENT to BTT_ENOENT,
 * ENOMEM to BTT_ENOMEM and everything else to BTT_EIO. */
btt_err btt_error_errno(btt_error *err, int errnum, const char *what);

/* The message of err, or the code's fixed message when err carries none. */
const char *btt_error_str(const btt_error *err);

#endif
