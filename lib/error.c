/* SPDX-License-Identifier: MIT */
/* error.c — one place that formats errors, so every message has one shape. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

int rp_error_setv(rollout_error *err, int code, const char *file, int line, int col,
                  const char *field, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    char text[sizeof err->message];
    vsnprintf(text, sizeof text, fmt, ap);
    err->code = code;
    err->line = line;
    err->column = col;
    copy_str(err->file, sizeof err->file, file);
    copy_str(err->field, sizeof err->field, field);

    size_t off = 0;
    int n;
    if (file && *file) {
        if (line > 0)
            n = snprintf(err->message, sizeof err->message, "%s:%d:%d: ", file, line, col);
        else
            n = snprintf(err->message, sizeof err->message, "%s: ", file);
        off = n > 0 ? (size_t)n : 0;
    }
    if (off < sizeof err->message && field && *field) {
        n = snprintf(err->message + off, sizeof err->message - off, "%s: ", field);
        off += n > 0 ? (size_t)n : 0;
    }
    if (off < sizeof err->message)
        snprintf(err->message + off, sizeof err->message - off, "%s", text);
    return code;
}

int rp_error_set(rollout_error *err, int code, const char *file, int line, int col,
                 const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rp_error_setv(err, code, file, line, col, field, fmt, ap);
    va_end(ap);
    return code;
}

static const char *const code_names[] = {
    "ROLLOUT_OK", "ROLLOUT_ERR_NOMEM", "ROLLOUT_ERR_IO", "ROLLOUT_ERR_ARG",
    "ROLLOUT_ERR_SYNTAX", "ROLLOUT_ERR_ENCODING", "ROLLOUT_ERR_LIMIT", "ROLLOUT_ERR_EMPTY",
    "ROLLOUT_ERR_TYPE", "ROLLOUT_ERR_UNKNOWN_KEY", "ROLLOUT_ERR_MISSING", "ROLLOUT_ERR_VALUE",
    "ROLLOUT_ERR_RANGE", "ROLLOUT_ERR_ORDER", "ROLLOUT_ERR_DUPLICATE", "ROLLOUT_ERR_REFERENCE",
    "ROLLOUT_ERR_PATTERN", "ROLLOUT_ERR_BUFFER", "ROLLOUT_ERR_NOT_FOUND", "ROLLOUT_ERR_STATE",
    "ROLLOUT_ERR_STATE_PLAN", "ROLLOUT_ERR_TRANSITION", "ROLLOUT_ERR_METRICS",
    "ROLLOUT_ERR_UNSUPPORTED",
};

const char *rollout_code_name(int code)
{
    if (code < 0 || (size_t)code >= RP_COUNT(code_names))
        return "ROLLOUT_ERR_?";
    return code_names[code];
}
