#!/bin/sh
# SPDX-License-Identifier: MIT
# Every source file of the project says its license (MIT, LICENSE) in an
# SPDX line within its first three lines: C, Lua, Python, shell and CMake
# files under the source tree, test data and generated files aside.
#
#   check_spdx.sh SOURCE_DIR
set -eu
cd "${1:?usage: check_spdx.sh SOURCE_DIR}"
missing=0
for f in $(find include lib cli store bindings examples tests scripts cmake CMakeLists.txt \
             -type f \( -name '*.c' -o -name '*.h' -o -name '*.lua' -o -name '*.py' \
                        -o -name '*.pyi' -o -name '*.sh' -o -name '*.cmake' -o -name '*.in' \
                        -o -name CMakeLists.txt \) \
             -not -path 'tests/vectors/*' -not -path 'tests/fuzz/regressions/*' \
             -not -path 'tests/fuzz/seeds/*' -not -path '*/__pycache__/*' | sort); do
  if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
    echo "check_spdx: $f: no SPDX-License-Identifier: MIT line in its first three lines" >&2
    missing=$((missing + 1))
  fi
done
[ "$missing" -eq 0 ] || { echo "check_spdx: $missing files without their license line" >&2; exit 1; }
echo "check_spdx: every source file names its license"
