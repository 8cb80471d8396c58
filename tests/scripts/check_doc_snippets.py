#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_doc_snippets.py BUILD_DIR — the code blocks of README.md and
docs/*.md run as written.

Every fenced block whose language is sh, python, c, lua or console is
executed against the built tree, from the repository root (sh blocks in a
scratch directory that has the repository's examples/ and tests/ in it):

  sh       run with `sh -e`, the built `rollout` first on PATH
  python   run with the built binding importable (PYTHONPATH=BUILD/python)
  c        compiled as one program against include/ and the built
           librollout.so, and run
  lua      run by lua5.4 with the built C module (`require "rollout"`)
  console  a session: each line `$ COMMAND` is run by one sh (so `echo $?`
           sees the previous command), and the lines after it up to the
           next `$ ` line must be exactly what it printed (stdout and
           stderr). This is how output samples in the docs stay true.

A block that is not meant to run alone says so in its info string, after
the language (docs/README conventions, also in README.md's "Documentation"):

  ```c fragment      a piece of a program (declarations, a loop, an API list)
  ```sh manual       complete, but not for the test suite: the quick start,
                     the whole test run, fuzzing, benchmarks

Any other block of these languages that fails, fails the test. Blocks of
other languages (yaml, cmake, text, none) are not run.

The same files also speak of the project as it is: a line that names a
session, "this round" or one of the project's issues by number ("issue 7",
"(issue 3)") fails; an upstream project's issue (PCRE2 issue 224) is fine.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_LANGS = {"sh", "python", "c", "lua", "console"}
MARKERS = {"fragment", "manual"}
FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)(.*)$")
HISTORY = re.compile(r"\bsessions? \d+|\bthis round\b|\bissues? \d+", re.IGNORECASE)
UPSTREAM = re.compile(r"\b(PCRE2|CPython|LuaJIT|nginx|libyaml|hiredis)\b")


def history(path):
    """Lines that tell the project's history instead of what it is."""
    out, prev = [], ""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            for m in HISTORY.finditer(line):
                # an upstream project's issue: its name just before
                before = (prev + " " + line[:m.start()])[-20:]
                if not UPSTREAM.search(before):
                    out.append((n, line.strip()))
            prev = line.rstrip("\n")
    return out


def blocks(path):
    """(line, lang, markers, text) of every fenced block of the file."""
    out, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if cur is None:
                m = FENCE.match(line)
                if m:
                    cur = (n, m.group(1), set(m.group(2).split()), [])
            elif line.startswith("```"):
                out.append((cur[0], cur[1], cur[2], "\n".join(cur[3]) + "\n"))
                cur = None
            else:
                cur[3].append(line)
    return out


def doc_files():
    files = [os.path.join(ROOT, "README.md")]
    docs = os.path.join(ROOT, "docs")
    files += sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    return files


class Runner:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.tmp = tempfile.mkdtemp(prefix="doc-snippets.")
        self.env = dict(os.environ)
        self.env["PATH"] = self.build + os.pathsep + self.env.get("PATH", "")
        self.env["PYTHONPATH"] = os.path.join(self.build, "python")
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env["LUA_CPATH"] = os.path.join(self.build, "lua", "?.so") + ";;"
        self.env["LC_ALL"] = "C.UTF-8"

    def scratch(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        for name in ("examples", "tests"):
            os.symlink(os.path.join(ROOT, name), os.path.join(d, name))
        return d

    def run(self, args, cwd, stdin=None):
        p = subprocess.run(args, cwd=cwd, env=self.env, input=stdin, capture_output=True,
                           text=True, timeout=300)
        return p.returncode, p.stdout + p.stderr

    def sh(self, text):
        return self.run(["sh", "-e"], self.scratch(), text)

    def python(self, text):
        return self.run([sys.executable, "-"], ROOT, text)

    def lua(self, text):
        lua = shutil.which("lua5.4")
        if not lua:
            return 0, "(lua5.4 not installed: skipped)"
        return self.run([lua, "-"], ROOT, text)

    def c(self, text):
        d = self.scratch()
        src, exe = os.path.join(d, "snippet.c"), os.path.join(d, "snippet")
        with open(src, "w", encoding="utf-8") as f:
            f.write(text)
        cc = os.environ.get("CC", "cc")
        rc, out = self.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", exe, src,
                            "-I" + os.path.join(ROOT, "include"), "-L" + self.build,
                            "-Wl,-rpath," + self.build, "-lrollout"], d)
        if rc:
            return rc, "compiling:\n" + out
        return self.run([exe], ROOT)

    def console(self, text):
        """Runs each `$ ` command in one shell; returns (0, "") when every
        output is the one written, else (1, a diff-like report)."""
        steps, cur = [], None
        for line in text.splitlines():
            if line.startswith("$ "):
                cur = [line[2:], []]
                steps.append(cur)
            elif cur is None:
                return 1, "a console block must start with a `$ ` command line"
            else:
                cur[1].append(line)
        mark = "@@doc-snippet-step@@"
        script = "".join(f"{cmd}\n__rc=$?; echo {mark}; (exit $__rc)\n" for cmd, _ in steps)
        # the commands' exit statuses are part of the sample (echo $?), not failures
        _, out = self.run(["sh"], ROOT, "exec 2>&1\n" + script)
        got = out.split(mark + "\n")
        problems = []
        for i, (cmd, want) in enumerate(steps):
            have = got[i].rstrip("\n").split("\n") if i < len(got) and got[i] else []
            if have != want:
                problems.append(f"$ {cmd}\n--- written:\n" + "\n".join(want) +
                                "\n--- printed:\n" + "\n".join(have))
        return (1, "\n".join(problems)) if problems else (0, "")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_doc_snippets.py BUILD_DIR")
    r = Runner(sys.argv[1])
    failures, ran, skipped = [], 0, 0
    try:
        for path in doc_files():
            rel = os.path.relpath(path, ROOT)
            for line, text in history(path):
                failures.append(f"{rel}:{line}: speaks of the project's history (a session, "
                                f"a round, an issue number); say what was measured or tried: "
                                f"{text}")
            for line, lang, markers, text in blocks(path):
                if lang not in RUN_LANGS:
                    continue
                unknown = markers - MARKERS
                if unknown:
                    failures.append(f"{rel}:{line}: unknown marker(s) {sorted(unknown)} "
                                    f"(write fragment or manual)")
                    continue
                if markers:
                    skipped += 1
                    continue
                rc, out = getattr(r, lang)(text)
                ran += 1
                if rc:
                    failures.append(f"{rel}:{line}: the ```{lang} block fails (exit {rc}); "
                                    f"mark it `{lang} fragment` if it is not meant to run "
                                    f"alone:\n{out}")
    finally:
        shutil.rmtree(r.tmp, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print(f"check_doc_snippets: {ran} blocks run, {skipped} marked fragment/manual, "
          f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
