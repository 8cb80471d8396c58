# SPDX-License-Identifier: MIT
# Turns a file into a C array: cmake -DIN=file -DOUT=file.c -P embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n    " bytes "${bytes}")
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\n#include <stddef.h>\n"
  "extern const char rp_seed_yaml[];\nextern const size_t rp_seed_yaml_len;\n"
  "const char rp_seed_yaml[] = {\n    ${bytes}0x00\n};\n"
  "const size_t rp_seed_yaml_len = ${len};\n")
