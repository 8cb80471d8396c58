/* SPDX-License-Identifier: MIT */
/*
 * pattern_dfa.h — simple patterns as deterministic automata (pattern_dfa.c).
 *
 * A targeting pattern inside a small subset of PCRE2's syntax (text,
 * classes, quantified single characters, groups of alternatives,
 * quantified or not, a leading (?i); docs/targeting.md lists it) is also
 * compiled at load into a DFA over bytes, which decide runs instead of
 * PCRE2: a table step per byte or two of the value, none of
 * pcre2_jit_match's fixed cost, and time linear in the value, so such a
 * pattern never hits a match limit.
 */
#ifndef ROLLOUT_PATTERN_DFA_H
#define ROLLOUT_PATTERN_DFA_H

#include "internal.h"

/* One row per state, the start first: n_classes transitions, each the
 * offset of the next state's row, then the state's stop (RP_DFA_* bits). Offsets
 * rather than state numbers spare a multiplication per byte. */
typedef struct rp_dfa {
    uint8_t class_of[256];  /* byte -> byte class */
    const uint16_t *table;
    /* Two bytes a step, for automata small enough (NULL otherwise): rows of
     * n_classes^2 transitions indexed by pair_of[first byte] + class_of[second],
     * each the offset of the next state's row here, then the state's stop,
     * then the offset of its row in table. Halves the chain of dependent
     * loads a value's bytes make. */
    const uint16_t *pairs;
    uint16_t pair_of[256];  /* byte -> its class * n_classes */
    /* The one byte that leads out of the start state, which every other
     * byte leads back to (the '@' of '@[a-z]+\.com$'), or -1: the matcher
     * skips to it with memchr, as PCRE2 skips to a pattern's first code unit. */
    int16_t skip_to;
    uint16_t n_classes;
    uint8_t end;            /* RP_LIT_* of targeting.h: where a match must end */
} rp_dfa;

/* Whether a backslash before byte e stands for e itself: printable ASCII
 * punctuation does; a letter or digit escape is a type, an assertion, a
 * reference or a control character. Shared by the literal recognizer
 * (targeting.c) and the DFA's parser. */
static inline bool rp_escape_is_literal(unsigned e)
{
    bool alnum = (e >= '0' && e <= '9') || ((e | 0x20) >= 'a' && (e | 0x20) <= 'z');
    return e >= 0x21 && e <= 0x7e && !alnum;
}

/* A state's stop: bits. */
enum {
    RP_DFA_MATCH = 1,       /* a match ends here */
    RP_DFA_SETTLED = 2      /* every later state is this one: the answer is known
                             * (no match can start or go on, or, without an end
                             * anchor, one has ended) */
};

/* DFA states one plan may build, over all its patterns, those abandoned
 * for growing past 255 states included: the work of building them bounds a
 * plan's load time (a few milliseconds for the largest automaton), so a
 * plan of thousands of patterns cannot take minutes to load. Patterns past
 * the budget are left to PCRE2. */
#define RP_DFA_PLAN_STATES 8192

/* Compiles the pattern (len bytes, already accepted by pcre2_compile) into a
 * DFA in the arena, building at most *budget states (taken off *budget,
 * whether the DFA is kept or not): ROLLOUT_OK with *out set, or with *out
 * NULL when the pattern is outside the subset or its automaton would be too
 * large (PCRE2 then runs it); ROLLOUT_ERR_NOMEM when memory runs out. */
int rp_dfa_compile(rp_arena *arena, const char *pattern, size_t len, int *budget,
                   const rp_dfa **out);

/* PCRE2's answer for a pattern rp_dfa_compile accepted: 1 match, 0 none. */
int rp_dfa_match(const rp_dfa *d, const char *s, size_t n);

#endif /* ROLLOUT_PATTERN_DFA_H */
