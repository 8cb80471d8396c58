/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pattern.c — the pattern automata (lib/pattern_dfa.c) against PCRE2.
 *
 * Input: a pattern, a NUL byte, a value. Every pattern PCRE2 compiles with
 * the library's options goes to rp_dfa_compile, which must not crash, leak
 * or read out of bounds on any of them; when it builds an automaton, the
 * automaton's answer on the value must be PCRE2's. PCRE2 10.42's two
 * engines disagree on a few inputs with MATCH_INVALID_UTF (docs/targeting.md
 * names the bugs); there the automaton must give one of their answers, and
 * where either gives up under its match limit there is nothing to compare.
 */
#include "fuzz_common.h"
#include "pattern_dfa.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* The library's compile options (lib/targeting.c, compile_pattern). */
#define PATTERN_OPTIONS                                                                       \
    (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_NO_DOTSTAR_ANCHOR)

static int pcre2_answer(pcre2_code *code, pcre2_match_context *mctx, const uint8_t *s, size_t n,
                        uint32_t options)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    FZ_CHECK(md != NULL, "out of memory");
    int rc = pcre2_match(code, s, n, 0, options, md, mctx);
    pcre2_match_data_free(md);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    if (plen > 512)
        return 0;
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile(data, plen, PATTERN_OPTIONS, &err, &off, NULL);
    if (!code)
        return 0;
    rp_arena arena = {0};
    int budget = RP_DFA_PLAN_STATES;
    const rp_dfa *dfa = NULL;
    int rc = rp_dfa_compile(&arena, (const char *)data, plen, &budget, &dfa);
    FZ_CHECK(rc == ROLLOUT_OK, "rp_dfa_compile: %d", rc);
    FZ_CHECK(budget < RP_DFA_PLAN_STATES || !dfa, "an automaton built without spending states");
    if (dfa) {
        /* the value, copied with zeroed room after it: PCRE2's JIT may read
         * a little past a subject's end */
        const uint8_t *v = nul ? nul + 1 : data + size;
        size_t vlen = (size_t)(data + size - v);
        uint8_t *copy = calloc(1, vlen + 64);
        FZ_CHECK(copy != NULL, "out of memory");
        if (vlen)
            memcpy(copy, v, vlen);
        pcre2_match_context *mctx = pcre2_match_context_create(NULL);
        FZ_CHECK(mctx != NULL, "out of memory");
        pcre2_set_match_limit(mctx, 100000);
        pcre2_set_depth_limit(mctx, 1000);
        int interp = pcre2_answer(code, mctx, copy, vlen, PCRE2_NO_JIT);
        int jit = interp;
        if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0)
            jit = pcre2_answer(code, mctx, copy, vlen, 0);
        int got = rp_dfa_match(dfa, (const char *)copy, vlen);
        FZ_CHECK(got == 0 || got == 1, "answer %d", got);
        if (interp >= 0 && jit >= 0)
            FZ_CHECK(got == interp || got == jit,
                     "pattern \"%.*s\" on %zu bytes: automaton %d, PCRE2 %d (JIT %d)", (int)plen,
                     (const char *)data, vlen, got, interp, jit);
        pcre2_match_context_free(mctx);
        free(copy);
    }
    rp_arena_free(&arena);
    pcre2_code_free(code);
    return 0;
}
