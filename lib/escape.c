/* SPDX-License-Identifier: MIT */
/*
 * escape.c — the two ways text from a plan or a request leaves the library
 * and the rollout tool: as a JSON string literal, and as text for a terminal
 * (docs/security.md, "Output hygiene").
 *
 * Plan texts are UTF-8 (the YAML reader refuses anything else), but they
 * may hold any code point a YAML escape spells, "\e" and "\a" included; unit
 * ids come from requests and the command line and may be any bytes at all.
 * Both escapers therefore walk the input as UTF-8 and decide per sequence.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Length (2..4) of the well-formed UTF-8 sequence at s[0..n) whose first
 * byte is >= 0x80, or 0 when it is ill-formed; *bad is then the length of
 * its maximal subpart (1..3): the bytes one U+FFFD stands for under the
 * Unicode "best practice" that WHATWG decoders (and Python's "replace")
 * follow. Table 3-7 of the Unicode standard: the second byte's range shuts
 * out overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and
 * code points above U+10FFFF (F4 90..BF); C0, C1 and F5..FF never lead. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *bad = i;
            return 0;
        }
    }
    return len;
}

/* A C1 control (U+0080..U+009F): CSI is U+009B, and terminals that honour
 * 8-bit controls act on it as on ESC [. */
static bool is_c1(const unsigned char *s, size_t len)
{
    return len == 2 && s[0] == 0xC2 && s[1] < 0xA0;
}

void rp_json_escape(const char *s, size_t n, rp_sink put, void *to)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;
    put(to, "\"", 1);
    while (i < n) {
        unsigned char c = u[i];
        size_t len = 1, bad = 0;
        char esc[8];
        const char *rep = NULL;
        if (c >= 0x80) {
            len = utf8_seq(u + i, n - i, &bad);
            if (!len) {
                rep = "\\ufffd";
                len = bad;
            } else if (is_c1(u + i, len)) {
                snprintf(esc, sizeof esc, "\\u%04x", u[i + 1]);
                rep = esc;
            }
        } else if (c == '"') {
            rep = "\\\"";
        } else if (c == '\\') {
            rep = "\\\\";
        } else if (c == '\n') {
            rep = "\\n";
        } else if (c == '\t') {
            rep = "\\t";
        } else if (c == '\r') {
            rep = "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rep = esc;
        }
        if (rep) {
            if (i > run)
                put(to, s + run, i - run);
            put(to, rep, strlen(rep));
            run = i + len;
        }
        i += len;
    }
    if (n > run)
        put(to, s + run, n - run);
    put(to, "\"", 1);
}

void rp_text_escape(const char *s, size_t n, rp_sink put, void *to)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char c = u[i];
        size_t len = 1, bad = 0, from = i, count = 0;
        if (c >= 0x80) {
            len = utf8_seq(u + i, n - i, &bad);
            if (!len)
                len = count = 1; /* one byte: what follows is looked at afresh */
            else if (is_c1(u + i, len))
                count = 2;
        } else if (c < 0x20 || c == 0x7f) {
            count = 1;
        }
        if (count) {
            if (from > run)
                put(to, s + run, from - run);
            for (size_t k = 0; k < count; k++) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\x%02x", u[from + k]);
                put(to, esc, 4);
            }
            run = i + len;
        }
        i += len;
    }
    if (n > run)
        put(to, s + run, n - run);
}

bool rp_text_is_plain(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = 1, bad;
        if (u[i] >= 0x80) {
            len = utf8_seq(u + i, n - i, &bad);
            if (!len || is_c1(u + i, len))
                return false;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            return false;
        }
        i += len;
    }
    return true;
}

static void buf_sink(void *b, const char *s, size_t n)
{
    rp_buf_putn(b, s, n);
}

void rp_buf_json_str(rp_buf *b, const char *s, size_t n)
{
    rp_json_escape(s, n, buf_sink, b);
}

void rp_buf_text(rp_buf *b, const char *s, size_t n)
{
    rp_text_escape(s, n, buf_sink, b);
}

bool rp_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t bad, len = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i, &bad);
        if (!len)
            return false;
        i += len;
    }
    return true;
}
