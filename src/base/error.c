/* error.c - names and messages of btt_err, and the btt_error context helpers. */
#include "btt/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
#define BTT_X_NAME(name, msg) "BTT_E" #name,
    BTT_ERRNO_MAP(BTT_X_NAME)
#undef BTT_X_NAME
};

static const char *const messages[] = {
#define BTT_X_MSG(name, msg) msg,
    BTT_ERRNO_MAP(BTT_X_MSG)
#undef BTT_X_MSG
};

const char *btt_err_name(btt_err code)
{
    return (unsigned)code < BTT_ERR_COUNT ? names[code] : "BTT_E?";
}

const char *btt_err_message(btt_err code)
{
    return (unsigned)code < BTT_ERR_COUNT ? messages[code] : "unknown error";
}

btt_err btt_error_set(btt_error *err, btt_err code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void btt_error_prefix(btt_error *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    const char *rest = old[0] ? old : btt_err_message(err->code);
    /* prefix + ": " + rest, truncated to fit */
    size_t n = strlen(prefix), cap = sizeof err->msg - 1;
    if (n > cap) n = cap;
    memcpy(err->msg, prefix, n);
    for (const char *s = ": "; *s && n < cap; s++) err->msg[n++] = *s;
    size_t r = strlen(rest);
    if (r > cap - n) r = cap - n;
    memcpy(err->msg + n, rest, r);
    err->msg[n + r] = 0;
}

btt_err btt_error_errno(btt_error *err, int errnum, const char *what)
{
    btt_err code = errnum == ENOENT ? BTT_ENOENT : errnum == ENOMEM ? BTT_ENOMEM : BTT_EIO;
    return btt_error_set(err, code, "%s: %s", what, strerror(errnum));
}

const char *btt_error_str(const btt_error *err)
{
    return err->msg[0] ? err->msg : btt_err_message(err->code);
}
