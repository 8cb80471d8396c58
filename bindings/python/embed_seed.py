#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the seed plan into the C array librollout compiles in.

The Python build (setup.py) uses this where the CMake build runs
cmake/embed.cmake; both write the same file byte for byte (the test suite
checks it), so the two builds embed the same plan:

    /* generated from IN; do not edit */
    ...
    const char rp_seed_yaml[] = {
        0x23,0x20,...,0x00       (all on one line: see embed())
    };
    const size_t rp_seed_yaml_len = N;

usage: embed_seed.py IN OUT
"""

import sys


def embed(data: bytes, in_name: str) -> str:
    """The C source embed.cmake writes for `data` read from `in_name`."""
    # embed.cmake means to break the line every 16 bytes with the regex
    # "((0x..,){16})", but CMake regexes have no {n} repetition, so it never
    # matches and the array is one line; this writes what CMake really does
    items = "".join(f"0x{b:02x}," for b in data)
    return (
        f"/* generated from {in_name}; do not edit */\n#include <stddef.h>\n"
        "extern const char rp_seed_yaml[];\nextern const size_t rp_seed_yaml_len;\n"
        f"const char rp_seed_yaml[] = {{\n    {items}0x00\n}};\n"
        f"const size_t rp_seed_yaml_len = {len(data)};\n"
    )


def write_if_changed(in_path: str, out_path: str, in_name: str = "") -> bool:
    """Writes out_path from in_path unless it already holds that text."""
    with open(in_path, "rb") as f:
        text = embed(f.read(), in_name or in_path)
    try:
        with open(out_path, encoding="ascii") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    with open(out_path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    return True


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.rstrip().rsplit("\n", 1)[-1])
    write_if_changed(sys.argv[1], sys.argv[2])
