/* SPDX-License-Identifier: MIT */
/*
 * pattern_dfa.c — simple patterns as deterministic automata.
 *
 * The subset, which PCRE2 (UTF, MATCH_INVALID_UTF, no other option) matches
 * as plain membership in a regular language:
 *   - printable ASCII characters that are not metacharacters, and a
 *     backslash before punctuation (that character);
 *   - . (any character but a newline), \d \w \s (without PCRE2_UCP: ASCII
 *     digits; ASCII letters, digits and _; HT LF VT FF CR and space) and
 *     \D \W \S (everything else, any character above U+007F included);
 *   - classes [...] and [^...] of such characters, ranges between two of
 *     them and those escapes; no POSIX names, not starting with ];
 *   - a quantifier after one of those: *, +, ?, {n}, {n,}, {n,m} with n and
 *     m up to 32, greedy or lazy (which changes what is captured, never
 *     whether there is a match), not possessive;
 *   - groups (...) and (?:...) of alternatives, nested or not, with or
 *     without one of those quantifiers (each copy the quantifier needs is
 *     parsed again from the group's text, a piece of NFA of its own);
 *   - ^ first and $, \z or \Z last, and | at the top level only without them;
 *   - (?i) at the very front, for the whole pattern: a character the pattern
 *     names matches its other case too, and k and s their third cases above
 *     U+007F (KELVIN SIGN, LONG S), as PCRE2 folds them in UTF mode; types
 *     are not folded; no negated class.
 * The pattern's own characters are ASCII; what it matches above U+007F is
 * always "every character" (., a negated class, \D), which the automaton
 * spells as the byte sequences of valid UTF-8 characters, so a byte of an
 * invalid sequence is matched by nothing, in PCRE2 (MATCH_INVALID_UTF) as
 * here. The classic catastrophic patterns ((a+)+, (a|aa)+) are regular
 * languages too: as automata they have no backtracking to limit, and give
 * the real answer where PCRE2 would give up.
 *
 * The construction is the textbook one: Thompson's NFA, then subsets, over
 * byte classes (bytes that no set of the pattern tells apart share one
 * column). NFA_MAX and DFA_MAX bound load time and size; a pattern past them
 * stays with PCRE2.
 */
#include "pattern_dfa.h"
#include "targeting.h" /* RP_LIT_* */

#include <stdlib.h>
#include <string.h>

enum {
    NFA_MAX = 512, DFA_MAX = 255, SETS_MAX = 64, REPEAT_MAX = 32, PATTERN_MAX = 1024, DEPTH_MAX = 16
};

typedef struct byteset {
    uint64_t w[4];
} byteset;

/* What one character of the pattern (a literal, an escape, a class, .) can
 * match: some ASCII bytes, and maybe every character above U+007F, or,
 * caseless, the two above it that are another case of an ASCII letter:
 * KELVIN SIGN (k) and LATIN SMALL LETTER LONG S (s). */
typedef struct charclass {
    byteset ascii;
    bool other;
    bool kelvin, long_s;
} charclass;

static void byte_add(byteset *b, unsigned c)
{
    b->w[c >> 6] |= UINT64_C(1) << (c & 63);
}

static bool byte_has(const byteset *b, unsigned c)
{
    return b->w[c >> 6] >> (c & 63) & 1;
}

enum { N_SET, N_EPS, N_MATCH };

typedef struct nfa_state {
    uint8_t kind;
    uint8_t set;            /* N_SET: index into builder.sets */
    int16_t out1, out2;     /* next states, -1 for none; N_SET uses out1 */
} nfa_state;

typedef struct builder {
    const char *s;
    size_t n, i;
    bool ok;                /* still inside the subset and the limits */
    bool top_alt;           /* a | at the top level */
    int depth;              /* groups open */
    uint8_t end;            /* RP_LIT_*: the end anchor, once met */
    bool caseless;          /* (?i) in front */
    nfa_state st[NFA_MAX];
    int n_st;
    byteset sets[SETS_MAX];
    int n_sets;
} builder;

/* A piece of NFA, entered at start and left through end's out1 (unset). */
typedef struct frag {
    int start, end;
} frag;

static int add_state(builder *b, int kind, int set, int out1, int out2)
{
    if (b->n_st == NFA_MAX) {
        b->ok = false;
        return 0;
    }
    b->st[b->n_st] = (nfa_state){(uint8_t)kind, (uint8_t)set, (int16_t)out1, (int16_t)out2};
    return b->n_st++;
}

static frag empty_frag(builder *b)
{
    int e = add_state(b, N_EPS, 0, -1, -1);
    return (frag){e, e};
}

/* f, then g. */
static void join(builder *b, frag *f, frag g)
{
    b->st[f->end].out1 = (int16_t)g.start;
    f->end = g.end;
}

static bool is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Whether ASCII byte c is one of \d, \w or \s: without PCRE2_UCP those
 * are ASCII only, \s being HT, LF, VT, FF, CR and space. */
static bool ascii_type(unsigned c, unsigned type)
{
    switch (type) {
    case 'd': return is_digit(c);
    case 'w': return is_alnum(c) || c == '_';
    default: return c == ' ' || (c >= '\t' && c <= '\r');
    }
}

/* Adds character c as the pattern names it (not through a type such as
 * \w): caseless, with its other case, and for k and s the character above
 * U+007F PCRE2 counts as one of their cases too. */
static void char_add(const builder *b, charclass *cc, unsigned c)
{
    byte_add(&cc->ascii, c);
    unsigned lower = c | 0x20;
    if (!b->caseless || lower < 'a' || lower > 'z')
        return;
    byte_add(&cc->ascii, lower);
    byte_add(&cc->ascii, lower - 'a' + 'A');
    cc->kelvin |= lower == 'k';
    cc->long_s |= lower == 's';
}

/* What a backslash and e stand for, added to into; *single is e itself for
 * an escaped punctuation character, else -1. False outside the subset (a
 * letter escape other than \d \w \s and their negations is an assertion,
 * a property or a control character). */
static bool escape_set(unsigned e, charclass *into, int *single)
{
    *single = -1;
    unsigned type = e | 0x20;
    if ((type == 'd' || type == 'w' || type == 's') && e != type + 0u) {
        /* \D \W \S: the other ASCII bytes, and every character above */
        for (unsigned c = 0; c < 0x80; c++)
            if (!ascii_type(c, type))
                byte_add(&into->ascii, c);
        into->other = true;
        return true;
    }
    if (type == 'd' || type == 'w' || type == 's') {
        for (unsigned c = 0; c < 0x80; c++)
            if (ascii_type(c, type))
                byte_add(&into->ascii, c);
        return true;
    }
    if (!rp_escape_is_literal(e))
        return false;
    byte_add(&into->ascii, e);
    *single = (int)e;
    return true;
}

/* [...] or [^...] at b->i. */
static bool parse_class(builder *b, charclass *set)
{
    const char *s = b->s;
    size_t n = b->n, i = b->i + 1;
    bool negated = i < n && s[i] == '^';
    i += negated;
    size_t first = i;
    if (i >= n || s[i] == ']')
        return false;
    int prev = -1; /* the last single character, which a - can start a range from */
    while (i < n && s[i] != ']') {
        unsigned c = (unsigned char)s[i];
        int single;
        if (c == '\\') {
            if (i + 1 >= n || !escape_set((unsigned char)s[i + 1], set, &single))
                return false;
            i += 2;
        } else if (c == '-' && i != first && i + 1 < n && s[i + 1] != ']') {
            /* a range; after \d or another range PCRE2 either refuses the
             * pattern or reads a plain -, and so do we not go there */
            if (prev < 0)
                return false;
            unsigned hi = (unsigned char)s[i + 1];
            i += 2;
            if (hi == '\\') {
                if (i >= n ||
                    !escape_set((unsigned char)s[i], &(charclass){{{0}}, 0, 0, 0}, &single) ||
                    single < 0)
                    return false;
                hi = (unsigned)single;
                i++;
            } else if (hi < 0x20 || hi > 0x7e || hi == '[') {
                return false;
            }
            if (hi < (unsigned)prev)
                return false;
            for (unsigned r = (unsigned)prev; r <= hi; r++)
                char_add(b, set, r);
            single = -1;
        } else {
            if (c < 0x20 || c > 0x7e || c == '[')
                return false;
            char_add(b, set, c);
            single = (int)c;
            i++;
        }
        prev = single;
    }
    if (i >= n)
        return false;
    if (negated) {
        /* caseless, [^k] would have to leave out KELVIN SIGN from every
         * character above U+007F, and which cases PCRE2 folds for a negated
         * class is subtle enough to leave to it */
        if (b->caseless)
            return false;
        /* every character the members do not match: a newline too */
        for (unsigned c = 0; c < 0x80; c++)
            set->ascii.w[c >> 6] ^= UINT64_C(1) << (c & 63);
        set->other = !set->other;
    }
    b->i = i + 1;
    return true;
}

/* A quantifier at b->i, or none: (1, 1). max -1 is unbounded. */
static bool parse_quant(builder *b, int *min, int *max)
{
    const char *s = b->s;
    size_t n = b->n, i = b->i;
    *min = *max = 1;
    if (i >= n)
        return true;
    switch (s[i]) {
    case '*': *min = 0; *max = -1; i++; break;
    case '+': *max = -1; i++; break;
    case '?': *min = 0; i++; break;
    case '{': {
        int lo = 0, hi;
        size_t j = i + 1;
        if (j >= n || !is_digit((unsigned char)s[j]))
            return false; /* PCRE2 reads such a { as text (or {,m} as a quantifier) */
        while (j < n && is_digit((unsigned char)s[j]) && lo <= REPEAT_MAX)
            lo = lo * 10 + (s[j++] - '0');
        hi = lo;
        if (j < n && s[j] == ',') {
            j++;
            hi = -1;
            if (j < n && is_digit((unsigned char)s[j])) {
                hi = 0;
                while (j < n && is_digit((unsigned char)s[j]) && hi <= REPEAT_MAX)
                    hi = hi * 10 + (s[j++] - '0');
            }
        }
        if (j >= n || s[j] != '}' || lo > REPEAT_MAX || hi > REPEAT_MAX || (hi >= 0 && hi < lo))
            return false;
        *min = lo;
        *max = hi;
        i = j + 1;
        break;
    }
    default: return true;
    }
    if (i < n && s[i] == '?')
        i++; /* lazy */
    if (i < n && strchr("*+?{", s[i]))
        return false; /* possessive, or a repeat of a repeat */
    b->i = i;
    return true;
}

static int intern_set(builder *b, const byteset *set)
{
    for (int k = 0; k < b->n_sets; k++)
        if (!memcmp(&b->sets[k], set, sizeof *set))
            return k;
    if (b->n_sets == SETS_MAX) {
        b->ok = false;
        return 0;
    }
    b->sets[b->n_sets] = *set;
    return b->n_sets++;
}

/* The byte sequences of a valid UTF-8 character above U+007F (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF), one row per
 * lead-byte range: what PCRE2 with MATCH_INVALID_UTF takes for a
 * character; any other byte sequence no item of a pattern can match. */
static const uint8_t utf8_rows[][4][2] = {
    {{0xC2, 0xDF}, {0x80, 0xBF}},
    {{0xE0, 0xE0}, {0xA0, 0xBF}, {0x80, 0xBF}},
    {{0xE1, 0xEC}, {0x80, 0xBF}, {0x80, 0xBF}},
    {{0xED, 0xED}, {0x80, 0x9F}, {0x80, 0xBF}},
    {{0xEE, 0xEF}, {0x80, 0xBF}, {0x80, 0xBF}},
    {{0xF0, 0xF0}, {0x90, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}},
    {{0xF1, 0xF3}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}},
    {{0xF4, 0xF4}, {0x80, 0x8F}, {0x80, 0xBF}, {0x80, 0xBF}},
};

static int range_set(builder *b, unsigned lo, unsigned hi)
{
    byteset r = {{0}};
    for (unsigned c = lo; c <= hi; c++)
        byte_add(&r, c);
    return intern_set(b, &r);
}

/* One character of cc: a byte, or a fork to the ASCII byte and to every
 * UTF-8 row, all leaving through one state. */
static const uint8_t kelvin_sign[][4][2] = {{{0xE2, 0xE2}, {0x84, 0x84}, {0xAA, 0xAA}}};
static const uint8_t long_s[][4][2] = {{{0xC5, 0xC5}, {0xBF, 0xBF}}};

/* Forks from *entry (-1: none yet) to each row of byte ranges, all rows
 * leaving through exit. */
static void add_rows(builder *b, int *entry, int exit, const uint8_t (*rows)[4][2], size_t n)
{
    for (size_t r = 0; r < n; r++) {
        int next = exit;
        for (int k = 3; k >= 0; k--)
            if (rows[r][k][0])
                next = add_state(b, N_SET, range_set(b, rows[r][k][0], rows[r][k][1]), next, -1);
        *entry = *entry < 0 ? next : add_state(b, N_EPS, 0, *entry, next);
    }
}

static frag char_frag(builder *b, const charclass *cc)
{
    static const byteset none = {{0}};
    bool any_ascii = memcmp(&cc->ascii, &none, sizeof none) != 0;
    bool extra = !cc->other && (cc->kelvin || cc->long_s);
    if (!cc->other && !extra) {
        int c = add_state(b, N_SET, intern_set(b, &cc->ascii), -1, -1);
        return (frag){c, c};
    }
    int exit = add_state(b, N_EPS, 0, -1, -1);
    int entry = -1;
    if (any_ascii)
        entry = add_state(b, N_SET, intern_set(b, &cc->ascii), exit, -1);
    if (cc->other) {
        add_rows(b, &entry, exit, utf8_rows, sizeof utf8_rows / sizeof utf8_rows[0]);
    } else {
        if (cc->kelvin)
            add_rows(b, &entry, exit, kelvin_sign, 1);
        if (cc->long_s)
            add_rows(b, &entry, exit, long_s, 1);
    }
    return (frag){entry, exit};
}

/* min to max (-1: any number of) characters of cc. */
static frag repeat_class(builder *b, const charclass *cc, int min, int max)
{
    frag f = empty_frag(b);
    for (int r = 0; r < min; r++)
        join(b, &f, char_frag(b, cc));
    int exit = add_state(b, N_EPS, 0, -1, -1);
    if (max < 0) {
        frag c = char_frag(b, cc);
        int loop = add_state(b, N_EPS, 0, c.start, exit);
        b->st[c.end].out1 = (int16_t)loop;
        join(b, &f, (frag){loop, exit});
        return f;
    }
    for (int r = min; r < max; r++) {
        frag c = char_frag(b, cc);
        int maybe = add_state(b, N_EPS, 0, c.start, exit);
        join(b, &f, (frag){maybe, c.end});
    }
    join(b, &f, (frag){exit, exit});
    return f;
}

static frag parse_alt(builder *b);

/* The alternatives of a group whose body starts at `body`; b->i is left at
 * its ). */
static frag parse_group(builder *b, size_t body)
{
    if (b->depth == DEPTH_MAX) {
        b->ok = false; /* the parser recurses per group: bound its stack */
        return empty_frag(b);
    }
    b->i = body;
    b->depth++;
    frag g = parse_alt(b);
    b->depth--;
    return g;
}

/* min to max (-1: any number of) matches of a group, g being the first
 * copy of its NFA; the others are parsed again from its body, so each is a
 * piece of its own (as repeat_class makes one per character). Whatever
 * the group matches, the empty string included, the subset construction
 * follows the loops without repeating itself: there is no backtracking to
 * blow up. b->i is left where it was, after the quantifier. */
static frag repeat_group(builder *b, frag g, size_t body, int min, int max)
{
    size_t after = b->i;
    bool used = false;
#define NEXT_COPY() (used ? parse_group(b, body) : (used = true, g))
    frag f = empty_frag(b);
    for (int r = 0; r < min && b->ok; r++)
        join(b, &f, NEXT_COPY());
    int exit = add_state(b, N_EPS, 0, -1, -1);
    if (max < 0) {
        frag c = NEXT_COPY();
        int loop = add_state(b, N_EPS, 0, c.start, exit);
        b->st[c.end].out1 = (int16_t)loop;
        join(b, &f, (frag){loop, exit});
    } else {
        for (int r = min; r < max && b->ok; r++) {
            frag c = NEXT_COPY();
            int maybe = add_state(b, N_EPS, 0, c.start, exit);
            join(b, &f, (frag){maybe, c.end});
        }
        join(b, &f, (frag){exit, exit});
    }
#undef NEXT_COPY
    b->i = after;
    return f;
}

static frag parse_seq(builder *b)
{
    const char *s = b->s;
    frag f = empty_frag(b);
    while (b->ok && b->i < b->n) {
        size_t n = b->n, i = b->i;
        unsigned c = (unsigned char)s[i];
        if (c == '|' || c == ')')
            break;
        if (b->depth == 0 && c == '$' && i + 1 == n) {
            b->end = RP_LIT_END_NL;
            b->i = n;
            break;
        }
        if (b->depth == 0 && c == '\\' && i + 2 == n && (s[i + 1] == 'z' || s[i + 1] == 'Z')) {
            b->end = s[i + 1] == 'z' ? RP_LIT_END : RP_LIT_END_NL;
            b->i = n;
            break;
        }
        if (c == '(') {
            i++;
            if (i + 1 < n && s[i] == '?' && s[i + 1] == ':')
                i += 2;
            else if (i < n && s[i] == '?') {
                b->ok = false; /* an option, a lookaround, a named group */
                break;
            }
            frag g = parse_group(b, i);
            int min, max;
            if (!b->ok || b->i >= n || s[b->i] != ')') {
                b->ok = false; /* unclosed */
                break;
            }
            b->i++;
            if (!parse_quant(b, &min, &max)) {
                b->ok = false;
                break;
            }
            join(b, &f, min == 1 && max == 1 ? g : repeat_group(b, g, i, min, max));
            continue;
        }
        charclass set = {{{0}}, false, false, false};
        int single;
        bool atom;
        if (c == '[') {
            atom = parse_class(b, &set);
        } else if (c == '\\') {
            atom = i + 1 < n && escape_set((unsigned char)s[i + 1], &set, &single);
            b->i = i + 2;
        } else if (c == '.') {
            /* any character but a newline */
            for (unsigned a = 0; a < 0x80; a++)
                if (a != '\n')
                    byte_add(&set.ascii, a);
            set.other = true;
            b->i = i + 1;
            atom = true;
        } else if (c < 0x20 || c > 0x7e || strchr("^$[]|()?*+{}", (int)c)) {
            atom = false;
        } else {
            char_add(b, &set, c);
            b->i = i + 1;
            atom = true;
        }
        int min, max;
        if (!atom || !parse_quant(b, &min, &max)) {
            b->ok = false;
            break;
        }
        join(b, &f, repeat_class(b, &set, min, max));
    }
    return f;
}

/* seq | seq | ...: a fork to each, all leaving through one state. */
static frag parse_alt(builder *b)
{
    frag f = parse_seq(b);
    if (!b->ok || b->i >= b->n || b->s[b->i] != '|')
        return f;
    if (b->depth == 0)
        b->top_alt = true;
    int exit = add_state(b, N_EPS, 0, -1, -1);
    join(b, &f, (frag){exit, exit});
    int entry = f.start;
    while (b->ok && b->i < b->n && b->s[b->i] == '|') {
        b->i++;
        frag g = parse_seq(b);
        join(b, &g, (frag){exit, exit});
        entry = add_state(b, N_EPS, 0, entry, g.start);
    }
    return (frag){entry, exit};
}

/* ---- subsets ---------------------------------------------------------------- */

typedef struct nfa_set {
    uint64_t w[NFA_MAX / 64];
} nfa_set;

static bool nset_has(const nfa_set *s, int q)
{
    return s->w[q >> 6] >> (q & 63) & 1;
}

static void nset_add(nfa_set *s, int q)
{
    s->w[q >> 6] |= UINT64_C(1) << (q & 63);
}

/* Adds every state reachable through epsilon edges. */
static void closure(const builder *b, nfa_set *s)
{
    int stack[NFA_MAX], sp = 0;
    for (int q = 0; q < b->n_st; q++)
        if (nset_has(s, q))
            stack[sp++] = q;
    while (sp) {
        const nfa_state *st = &b->st[stack[--sp]];
        if (st->kind != N_EPS)
            continue;
        int outs[2] = {st->out1, st->out2};
        for (int k = 0; k < 2; k++)
            if (outs[k] >= 0 && !nset_has(s, outs[k])) {
                nset_add(s, outs[k]);
                stack[sp++] = outs[k];
            }
    }
}

typedef struct subsets {
    nfa_set state[DFA_MAX];
    int n;
} subsets;

int rp_dfa_compile(rp_arena *arena, const char *pattern, size_t len, int *budget,
                   const rp_dfa **out)
{
    *out = NULL;
    if (len > PATTERN_MAX || *budget <= 0)
        return ROLLOUT_OK;
    int max_states = *budget < DFA_MAX ? *budget : DFA_MAX;
    /* about 90 KiB: too much for a gateway thread's stack, which plan loads
     * may well run on; freed on every way out */
    struct work {
        builder b;
        subsets d;
        uint8_t next[DFA_MAX][256];
    } *w = malloc(sizeof *w);
    if (!w)
        return ROLLOUT_ERR_NOMEM;
    w->d.n = 0; /* states built, for the budget */
    int rc = ROLLOUT_OK;
    builder *b = &w->b;
    b->s = pattern;
    b->n = len;
    b->ok = true;
    b->top_alt = false;
    b->depth = 0;
    b->end = RP_LIT_ANYWHERE;
    b->n_st = 0;
    b->n_sets = 0;
    /* (?i) in front, and nowhere else: caseless for the whole pattern */
    b->caseless = len >= 4 && !memcmp(pattern, "(?i)", 4);
    b->i = b->caseless ? 4 : 0;
    bool anchored = b->i < len && pattern[b->i] == '^';
    b->i += anchored;
    frag f = parse_alt(b);
    int match = add_state(b, N_MATCH, 0, -1, -1);
    join(b, &f, (frag){match, match});
    /* ^a|b$ is (^a)|(b$), which one pair of anchors cannot say */
    if (!b->ok || b->i != len || (b->top_alt && (anchored || b->end != RP_LIT_ANYWHERE)))
        goto done;

    /* byte classes: split by every set in turn */
    uint8_t class_of[256] = {0};
    int n_classes = 1;
    for (int k = 0; k < b->n_sets; k++) {
        int16_t remap[512];
        memset(remap, -1, sizeof remap);
        int m = 0;
        for (unsigned c = 0; c < 256; c++) {
            int key = class_of[c] * 2 + byte_has(&b->sets[k], c);
            if (remap[key] < 0)
                remap[key] = (int16_t)m++;
            class_of[c] = (uint8_t)remap[key];
        }
        n_classes = m;
    }
    unsigned rep[256];
    for (unsigned c = 256; c-- > 0;)
        rep[class_of[c]] = c;

    /* subsets; unanchored, every one also holds the start's closure (a
     * match may begin at any byte) */
    subsets *d = &w->d;
    nfa_set start = {{0}};
    nset_add(&start, f.start);
    closure(b, &start);
    d->state[0] = start;
    d->n = 1;
    for (int q = 0; q < d->n; q++) {
        /* Without an end anchor the first match settles it: such a state
         * keeps to itself (rp_dfa_match relies on it), and what would
         * follow it need not be built. */
        if (b->end == RP_LIT_ANYWHERE && nset_has(&d->state[q], match)) {
            memset(w->next[q], q, (size_t)n_classes);
            continue;
        }
        for (int cl = 0; cl < n_classes; cl++) {
            nfa_set to = anchored ? (nfa_set){{0}} : start;
            for (int s = 0; s < b->n_st; s++)
                if (nset_has(&d->state[q], s) && b->st[s].kind == N_SET &&
                    byte_has(&b->sets[b->st[s].set], rep[cl]))
                    nset_add(&to, b->st[s].out1);
            closure(b, &to);
            int j = 0;
            while (j < d->n && memcmp(&d->state[j], &to, sizeof to))
                j++;
            if (j == d->n) {
                if (d->n == max_states)
                    goto done; /* too large, or the plan's budget spent: PCRE2 runs it */
                d->state[d->n++] = to;
            }
            w->next[q][cl] = (uint8_t)j;
        }
    }

    /* rows of n_classes transitions, as row offsets, and the state's stop */
    size_t row = (size_t)n_classes + 1;
    rp_dfa *dfa = rp_alloc(arena, sizeof *dfa);
    uint16_t *table = rp_alloc_array(arena, (size_t)d->n * row, sizeof *table);
    if (!dfa || !table) {
        rc = ROLLOUT_ERR_NOMEM;
        goto done;
    }
    for (int q = 0; q < d->n; q++) {
        for (int cl = 0; cl < n_classes; cl++)
            table[q * row + cl] = (uint16_t)(w->next[q][cl] * row);
        nfa_set empty = {{0}};
        bool matches = nset_has(&d->state[q], match);
        bool dead = !memcmp(&d->state[q], &empty, sizeof empty);
        table[q * row + n_classes] =
            (uint16_t)((matches ? RP_DFA_MATCH : 0) |
                       (dead || (matches && b->end == RP_LIT_ANYWHERE) ? RP_DFA_SETTLED : 0));
    }
    /* the pair table, when it stays small (32 KiB at most) */
    size_t row2 = (size_t)n_classes * n_classes + 2;
    uint16_t *pairs = NULL;
    if ((size_t)d->n * row2 <= 16384) {
        pairs = rp_alloc_array(arena, (size_t)d->n * row2, sizeof *pairs);
        if (!pairs) {
            rc = ROLLOUT_ERR_NOMEM;
            goto done;
        }
        for (int q = 0; q < d->n; q++) {
            for (int c1 = 0; c1 < n_classes; c1++)
                for (int c2 = 0; c2 < n_classes; c2++)
                    pairs[q * row2 + (size_t)c1 * n_classes + c2] =
                        (uint16_t)(w->next[w->next[q][c1]][c2] * row2);
            pairs[q * row2 + row2 - 2] = table[q * row + n_classes];
            pairs[q * row2 + row2 - 1] = (uint16_t)(q * row);
        }
    }
    for (unsigned c = 0; c < 256; c++)
        dfa->pair_of[c] = (uint16_t)(class_of[c] * n_classes);
    dfa->pairs = pairs;
    dfa->skip_to = -1;
    int leaving = -1; /* the one byte out of the start, -2 for more than one */
    for (unsigned c = 0; c < 256 && leaving != -2; c++)
        if (w->next[0][class_of[c]] != 0)
            leaving = leaving == -1 ? (int)c : -2;
    if (leaving >= 0 && !(table[n_classes] & RP_DFA_MATCH))
        dfa->skip_to = (int16_t)leaving;
    memcpy(dfa->class_of, class_of, sizeof class_of);
    dfa->table = table;
    dfa->n_classes = (uint16_t)n_classes;
    dfa->end = b->end;
    *out = dfa;
done:
    *budget -= w->d.n;
    free(w);
    return rc;
}

/* ---- matching --------------------------------------------------------------- */

int rp_dfa_match(const rp_dfa *d, const char *s, size_t n)
{
    const uint16_t *t = d->table;
    const uint8_t *cls = d->class_of;
    const unsigned nc = d->n_classes;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    bool anywhere = d->end == RP_LIT_ANYWHERE;
    /* With an end anchor the last byte is read on its own: the state before
     * it decides $ and \Z before a final newline. */
    size_t body = anywhere || n == 0 ? n : n - 1;
    unsigned st = 0; /* the start's row */
    size_t i = 0;
    if (d->skip_to >= 0) {
        /* every byte before the first skip_to leaves the start as it is */
        const unsigned char *at = memchr(p, d->skip_to, n);
        if (!at)
            return 0; /* the start, which does not match, after every byte */
        i = (size_t)(at - p);
    }
    /* Two bytes a step where the pair table exists, four bytes between
     * looks at the state: a settled state never leads anywhere else, so a
     * look every four bytes finds the answer as surely as one a byte, and
     * the bytes after it need no reading at all. */
    bool settled = false;
    if (d->pairs && body >= i + 2) {
        const uint16_t *t2 = d->pairs;
        const uint16_t *hi = d->pair_of;
        const unsigned stop2 = nc * nc;
        unsigned st2 = 0;
        for (; i + 4 <= body; i += 4) {
            st2 = t2[st2 + hi[p[i]] + cls[p[i + 1]]];
            st2 = t2[st2 + hi[p[i + 2]] + cls[p[i + 3]]];
            if (t2[st2 + stop2] & RP_DFA_SETTLED) {
                settled = true;
                break;
            }
        }
        if (!settled && i + 2 <= body) {
            st2 = t2[st2 + hi[p[i]] + cls[p[i + 1]]];
            i += 2;
        }
        st = t2[st2 + stop2 + 1];
    }
    if (!settled) {
        for (; i + 4 <= body; i += 4) {
            st = t[st + cls[p[i]]];
            st = t[st + cls[p[i + 1]]];
            st = t[st + cls[p[i + 2]]];
            st = t[st + cls[p[i + 3]]];
            if (t[st + nc] & RP_DFA_SETTLED) {
                settled = true;
                break;
            }
        }
        for (; !settled && i < body; i++)
            st = t[st + cls[p[i]]];
    }
    if (anywhere || n == 0)
        return t[st + nc] & RP_DFA_MATCH;
    unsigned before = st;
    st = t[st + cls[p[n - 1]]];
    if (t[st + nc] & RP_DFA_MATCH)
        return 1;
    return d->end == RP_LIT_END_NL && p[n - 1] == '\n' && (t[before + nc] & RP_DFA_MATCH);
}
