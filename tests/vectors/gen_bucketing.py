#!/usr/bin/python3
"""Generates tests/vectors/bucketing.json, the frozen bucketing test vectors.

Run once:  /usr/bin/python3 tests/vectors/gen_bucketing.py > tests/vectors/bucketing.json

It uses Debian's python3-xxhash (apt-get install python3-xxhash), not the C
library, so the vectors check librollout against an independent
implementation of the recipe in docs/bucketing.md:

    seed   = XXH3_64bits(salt bytes)                 (seed 0)
    h      = XXH3_64bits_withSeed(id bytes, seed)
    bucket = (h * 100000) >> 64                      (exact integer arithmetic)

The file is frozen once committed: the C, Python and Lua tests all read it,
and changing any vector is a breaking change of the bucketing contract.
"""
import json
import random
import subprocess
import sys

import xxhash

BUCKETS = 100000

SALTS = [
    "ledger-v2-2026-02",            # the seed plan's salt
    "s",
    "checkout-2025-Q3",
    "ünïcødé-sålt-🚀",
    "salt with spaces\tand\ttabs",
    "L" * 300,                        # longer than XXH3's 240-byte short path
]


def bucket_of(salt: bytes, ident: bytes):
    seed = xxhash.xxh3_64_intdigest(salt)
    h = xxhash.xxh3_64_intdigest(ident, seed=seed)
    return seed, h, (h * BUCKETS) >> 64


def ids():
    """Ids as bytes, in a fixed order, covering the shapes a gateway sees."""
    out = []

    def add(x):
        b = x.encode("utf-8") if isinstance(x, str) else x
        if b not in out:
            out.append(b)

    # Short and single-character ids.
    for ch in "aAzZ09 -_.~!":
        add(ch)
    for s in ["ab", "abc", "abcd", "acme", "acme-corp", "globex", "initech", "umbrella",
              "user-1", "user-2", "user-10", "org_42", "ACME-CORP", "Acme-Corp"]:
        add(s)
    # Bytes that look like numbers, booleans or nulls to a YAML/JSON reader.
    for s in ["0", "00", "007", "1", "-1", "+1", "1e3", "1E3", "1.0", "3.14", "0x10",
              "0o17", "1_000", "NaN", "nan", "inf", "-inf", "true", "false", "null",
              "~", "yes", "no", " 1", "1 ", "9223372036854775807",
              "18446744073709551616", "-0"]:
        add(s)
    # Separators and quoting characters.
    for s in ["a:b", "a/b", "a b", "a\tb", "a\nb", "a\r\nb", "a,b", "a;b", "a|b", "a=b",
              "a.b", "a\\b", "a\"b", "a'b", "a#b", "a%20b", "a&b", "a?b", "a@b",
              "a:b:c", "/a/b/", "::", "  ", "a\x00b", "\x00", "\x7f"]:
        add(s)
    # Typical identifiers.
    for s in ["alice@example.com", "bob@example.org", "Alice@Example.COM",
              "550e8400-e29b-41d4-a716-446655440000",
              "urn:org:acme-corp", "sess_9f8e7d6c5b4a", "req-000001"]:
        add(s)
    # Unicode: Latin with diacritics (precomposed and combining), other
    # scripts, non-BMP (4-byte UTF-8) characters, joiners and invisibles.
    for s in ["café", "cafe\u0301", "Zürich", "straße", "日本語", "Ελλάδα", "مرحبا",
              "עברית", "한국어", "🚀", "👩‍💻", "🇩🇪", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠜎𠜱",
              "a\u00a0b", "\ufeffbom", "\u200b", "ǅ", "ﬁ", "😀" * 50]:
        add(s)
    # Bytes that are not UTF-8 (ids are bytes; JSON cannot hold them as text).
    for b in [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
              b"user-\x80", b"\xc0\xaf"]:
        add(b)
    # Lengths around XXH3's internal boundaries (1-3, 4-8, 9-16, 17-128,
    # 129-240, long input with 64-byte stripes and 1024-byte blocks).
    for n in [3, 4, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 239,
              240, 241, 255, 256, 511, 512, 1000, 1023, 1024, 1025, 2048, 5000]:
        add(("abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n])
    add("x" * 1000)
    # Deterministic pseudo-random ids: printable ASCII, then mixed Unicode.
    rng = random.Random(20260228)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@:/"
    while len(out) < 190:
        add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    uni = "aé€日🚀𝔘 -"
    while len(out) < 205:
        add("".join(rng.choice(uni) for _ in range(rng.randint(1, 12))))
    return out


def text_or_none(b: bytes):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def main():
    cases = []
    for salt in SALTS:
        sb = salt.encode("utf-8")
        for ident in ids():
            seed, h, bucket = bucket_of(sb, ident)
            cases.append({
                "salt": salt,
                "id": text_or_none(ident),
                "id_hex": ident.hex(),
                "seed": "%016x" % seed,
                "hash": "%016x" % h,
                "bucket": bucket,
            })
    doc = {
        "description": "librollout bucketing vectors: bucket = (XXH3_64bits_withSeed(id, "
                       "XXH3_64bits(salt)) * 100000) >> 64. See docs/bucketing.md. "
                       "Frozen: changing a vector is a breaking change.",
        "generated_by": "/usr/bin/python3 tests/vectors/gen_bucketing.py > "
                        "tests/vectors/bucketing.json (Debian python3-xxhash %s, module %s, "
                        "xxHash %s)" % (debian_version("python3-xxhash"), xxhash.VERSION,
                                        xxhash.XXHASH_VERSION),
        "fields": {
            "salt": "the rollout salt, UTF-8 text",
            "id": "the unit id as text, or null when its bytes are not valid UTF-8",
            "id_hex": "the exact id bytes hashed (authoritative), lowercase hex",
            "seed": "XXH3_64bits(salt), 16 hex digits",
            "hash": "XXH3_64bits_withSeed(id, seed), 16 hex digits",
            "bucket": "the bucket, 0..99999",
        },
        "buckets": BUCKETS,
        "cases": cases,
        "rejected": [
            {"salt": s, "id": "", "id_hex": "", "error": "ROLLOUT_ERR_ARG",
             "why": "an empty id means the unit is absent; it has no bucket"}
            for s in SALTS[:3]
        ],
    }
    sys.stdout.write(dump(doc))


def jstr(s: str) -> str:
    """A JSON string that is also a YAML 1.1 double-quoted scalar.

    Non-ASCII text is written as raw UTF-8, not \\u escapes: libyaml rejects
    the surrogate-pair escapes JSON needs for non-BMP characters. What YAML
    does not allow raw (C0/C1 controls, DEL, BOM) or would fold as a line
    break (U+2028, U+2029) is escaped as \\uXXXX, which both readers decode.
    """
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif o < 0x20 or 0x7f <= o <= 0x9f or o in (0xfeff, 0x2028, 0x2029):
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jval(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return jstr(v)
    if isinstance(v, dict):
        return "{" + ", ".join(jstr(k) + ": " + jval(x) for k, x in v.items()) + "}"
    raise TypeError(v)


def dump(doc) -> str:
    """One case per line, so a reviewer can read and diff the file."""
    lines = ["{"]
    keys = list(doc)
    for i, k in enumerate(keys):
        v = doc[k]
        sep = "," if i + 1 < len(keys) else ""
        if isinstance(v, list):
            lines.append("  %s: [" % jstr(k))
            for j, item in enumerate(v):
                lines.append("    " + jval(item) + ("," if j + 1 < len(v) else ""))
            lines.append("  ]" + sep)
        else:
            lines.append("  %s: %s%s" % (jstr(k), jval(v), sep))
    lines.append("}")
    return "\n".join(lines) + "\n"


def debian_version(pkg: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"

if __name__ == "__main__":
    main()
