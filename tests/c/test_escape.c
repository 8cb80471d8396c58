/* SPDX-License-Identifier: MIT */
/*
 * test_escape.c — lib/escape.c, the one JSON string escaper and the one
 * terminal-text escaper (docs/security.md, "Output hygiene").
 *
 * Every expected value is written by hand from the rules: JSON keeps
 * well-formed UTF-8, writes \" \\ \n \r \t, \u00XX for the other C0
 * controls, DEL and C1, and one \ufffd per maximal ill-formed subpart
 * (Unicode Table 3-7: the second byte decides overlong, surrogate and
 * > U+10FFFF); text writes \xHH for each byte of a control character or of
 * ill-formed UTF-8.
 */
#include "internal.h"
#include "support.h"

#include <criterion/criterion.h>
#include <string.h>

typedef struct {
    const char *in;
    size_t n;
    const char *json; /* the literal, quotes included */
    const char *text;
} esc_case;

#define C(s, j, t) {s, sizeof s - 1, j, t}

static const esc_case cases[] = {
    C("", "\"\"", ""),
    C("plain text", "\"plain text\"", "plain text"),
    C("a\"b\\c", "\"a\\\"b\\\\c\"", "a\"b\\c"),
    C("\n\r\t", "\"\\n\\r\\t\"", "\\x0a\\x0d\\x09"),
    C("\0", "\"\\u0000\"", "\\x00"),
    C("a\0b", "\"a\\u0000b\"", "a\\x00b"),
    C("\x01\x1b\x1f", "\"\\u0001\\u001b\\u001f\"", "\\x01\\x1b\\x1f"),
    C("\x7f", "\"\\u007f\"", "\\x7f"),
    C(" ~", "\" ~\"", " ~"),
    C("\x1b[2J\x1b]0;owned\x07", "\"\\u001b[2J\\u001b]0;owned\\u0007\"",
      "\\x1b[2J\\x1b]0;owned\\x07"),
    /* C1 controls U+0080..U+009F, then the first code point after them */
    C("\xc2\x80", "\"\\u0080\"", "\\xc2\\x80"),
    C("\xc2\x9b" "1m", "\"\\u009b1m\"", "\\xc2\\x9b1m"),
    C("\xc2\x9f", "\"\\u009f\"", "\\xc2\\x9f"),
    C("\xc2\xa0", "\"\xc2\xa0\"", "\xc2\xa0"),
    /* well-formed UTF-8 at the edges of Table 3-7 passes as it is */
    C("\xc3\xa9", "\"\xc3\xa9\"", "\xc3\xa9"),
    C("\xdf\xbf", "\"\xdf\xbf\"", "\xdf\xbf"),
    C("\xe0\xa0\x80", "\"\xe0\xa0\x80\"", "\xe0\xa0\x80"),
    C("\xed\x9f\xbf", "\"\xed\x9f\xbf\"", "\xed\x9f\xbf"),
    C("\xee\x80\x80", "\"\xee\x80\x80\"", "\xee\x80\x80"),
    C("\xef\xbf\xbd", "\"\xef\xbf\xbd\"", "\xef\xbf\xbd"),
    C("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\"", "\xf0\x90\x80\x80"),
    C("\xf0\x9f\x9a\x80", "\"\xf0\x9f\x9a\x80\"", "\xf0\x9f\x9a\x80"),
    C("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf"),
    /* bytes that never start a sequence */
    C("\xff" "ab", "\"\\ufffdab\"", "\\xffab"),
    C("\xfe", "\"\\ufffd\"", "\\xfe"),
    C("\x80", "\"\\ufffd\"", "\\x80"),
    C("a\xbf" "b", "\"a\\ufffdb\"", "a\\xbfb"),
    C("\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "\\xf5\\x80\\x80\\x80"),
    C("\xf8\x88\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"",
      "\\xf8\\x88\\x80\\x80\\x80"),
    /* overlong forms */
    C("\xc0\xaf", "\"\\ufffd\\ufffd\"", "\\xc0\\xaf"),
    C("\xc1\xbf", "\"\\ufffd\\ufffd\"", "\\xc1\\xbf"),
    C("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"", "\\xe0\\x80\\xaf"),
    C("\xe0\x9f\xbf", "\"\\ufffd\\ufffd\\ufffd\"", "\\xe0\\x9f\\xbf"),
    C("\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "\\xf0\\x8f\\xbf\\xbf"),
    /* surrogates U+D800..U+DFFF */
    C("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", "\\xed\\xa0\\x80"),
    C("\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"", "\\xed\\xbf\\xbf"),
    /* above U+10FFFF */
    C("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "\\xf4\\x90\\x80\\x80"),
    /* cut short: one U+FFFD for the whole maximal subpart */
    C("x\xe2\x82", "\"x\\ufffd\"", "x\\xe2\\x82"),
    C("\xe2\x82" "a", "\"\\ufffda\"", "\\xe2\\x82a"),
    C("\xc3", "\"\\ufffd\"", "\\xc3"),
    C("\xc3" "a", "\"\\ufffda\"", "\\xc3a"),
    C("\xf0\x9f\x9a", "\"\\ufffd\"", "\\xf0\\x9f\\x9a"),
    C("\xf0\x9f\x9a\xc3\xa9", "\"\\ufffd\xc3\xa9\"", "\\xf0\\x9f\\x9a\xc3\xa9"),
    C("\xe2\x28\xa1", "\"\\ufffd(\\ufffd\"", "\\xe2(\\xa1"),
    C("\xe2\x82\x1b", "\"\\ufffd\\u001b\"", "\\xe2\\x82\\x1b"),
    /* all of it at once */
    C("id \x1b[2J\xff\"\\\xc2\x9b\xed\xa0\x80\xc3\xa9",
      "\"id \\u001b[2J\\ufffd\\\"\\\\\\u009b\\ufffd\\ufffd\\ufffd\xc3\xa9\"",
      "id \\x1b[2J\\xff\"\\\\xc2\\x9b\\xed\\xa0\\x80\xc3\xa9"),
};

Test(escape, json_table)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rp_buf b = {0};
        rp_buf_json_str(&b, cases[i].in, cases[i].n);
        cr_assert(!b.failed);
        cr_expect_str_eq(b.data, cases[i].json, "case %zu", i);
        rp_buf_free(&b);
    }
}

Test(escape, text_table)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rp_buf b = {0};
        rp_buf_text(&b, cases[i].in, cases[i].n);
        cr_assert(!b.failed);
        cr_expect_str_eq(b.data ? b.data : "", cases[i].text, "case %zu", i);
        /* plain exactly when escaping changes nothing */
        bool same = b.len == cases[i].n && !memcmp(b.data ? b.data : "", cases[i].in, b.len);
        cr_expect_eq(rp_text_is_plain(cases[i].in, cases[i].n), same, "case %zu", i);
        rp_buf_free(&b);
    }
}

/* The escapers hand over runs, not single bytes, and nothing past n. */
typedef struct {
    int calls;
    char out[64];
    size_t len;
} pieces;

static void collect(void *to, const char *s, size_t n)
{
    pieces *p = to;
    p->calls++;
    memcpy(p->out + p->len, s, n);
    p->len += n;
}

Test(escape, runs_and_bounds)
{
    pieces p = {0};
    rp_json_escape("abcdef\x1bghij\xff", 12, collect, &p);
    cr_expect_eq(p.len, strlen("\"abcdef\\u001bghij\\ufffd\""));
    cr_expect(!memcmp(p.out, "\"abcdef\\u001bghij\\ufffd\"", p.len));
    cr_expect_eq(p.calls, 6, "quote, run, escape, run, escape, quote: %d", p.calls);

    /* a sequence cut by n is ill-formed even when the bytes after n would finish it */
    memset(&p, 0, sizeof p);
    rp_text_escape("\xc3\xa9", 1, collect, &p);
    cr_expect_eq(p.len, 4);
    cr_expect(!memcmp(p.out, "\\xc3", 4));
    memset(&p, 0, sizeof p);
    rp_json_escape("\xf0\x9f\x9a\x80", 3, collect, &p);
    cr_expect_eq(p.len, 8);
    cr_expect(!memcmp(p.out, "\"\\ufffd\"", 8));
}

/* rollout_explain shows a unit id with the same escaper. */
Test(escape, explain_shows_ids_escaped)
{
    size_t len;
    const char *yaml = rollout_seed_plan(&len);
    rollout_plan *plan;
    cr_assert_eq(rollout_plan_load_buffer(yaml, len, "<seed>", &plan, NULL), ROLLOUT_OK);
    rollout_attr email = {"email", 5, "a@example.com", 13};
    rollout_context ctx = {0};
    ctx.session = "\xff" "s\xc2\x9b\x1b";
    ctx.session_len = 5;
    ctx.attrs = &email;
    ctx.n_attrs = 1;
    rollout_decision d;
    cr_assert_eq(rollout_decide(plan, NULL, rollout_plan_start(plan) + 3600, &ctx, &d),
                 ROLLOUT_OK);
    char text[256];
    rollout_explain(plan, &d, &ctx, text, sizeof text);
    const char *head = "session \\xffs\\xc2\\x9b\\x1b is in cohort internal; bucket ";
    cr_expect(!strncmp(text, head, strlen(head)), "%s", text);
    rollout_plan_unref(plan);
}
