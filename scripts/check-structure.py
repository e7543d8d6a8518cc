#!/usr/bin/env python3
"""The size limits of CONTRIBUTING.md ("Where things go"), checked by the test command.

Every tracked Rust source file of the workspace (crates/, benches/, python/src/) has at most 500
lines of non-test code, and every function in that code at most 80. A line counts when it holds
code: blank lines and comment lines (`//`, `///`, `//!`) do not. Non-test code is everything
before the first top-level `#[cfg(test)]`; files under tests/ and files named tests.rs are test
code. A function runs from its `fn` line to the closing brace at the same indentation.

Prints each file or function over its limit and exits 1; prints one line and exits 0 otherwise.
"""
import re
import subprocess
import sys

FILE_LIMIT, FN_LIMIT = 500, 80
FN = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def counts(line: str) -> bool:
    t = line.strip()
    return bool(t) and not t.startswith("//")


def check(path: str) -> list[str]:
    lines = open(path, encoding="utf-8").read().split("\n")
    # The first top-level `#[cfg(test)]` that opens a block; `#[cfg(test)] mod tests;` (a test
    # module in its own file) does not end the non-test code.
    end = next(
        (
            i
            for i, l in enumerate(lines)
            if l.startswith("#[cfg(test)]")
            and not (i + 1 < len(lines) and lines[i + 1].rstrip().endswith(";"))
        ),
        len(lines),
    )
    problems = []
    code = sum(1 for l in lines[:end] if counts(l))
    if code > FILE_LIMIT:
        problems.append(f"{path}: {code} lines of non-test code (limit {FILE_LIMIT})")
    for i in range(end):
        m = FN.match(lines[i])
        if not m or lines[i].rstrip().endswith(";"):
            continue
        indent = m.group(1)
        j = i
        while j < end and not (lines[j].startswith(indent + "}") and not lines[j][len(indent)].isspace()):
            j += 1
        n = sum(1 for l in lines[i : j + 1] if counts(l))
        if n > FN_LIMIT:
            problems.append(f"{path}:{i + 1}: fn {m.group(7)} has {n} lines (limit {FN_LIMIT})")
    return problems


def main() -> int:
    files = subprocess.run(
        ["git", "ls-files", "crates/*.rs", "benches/*.rs", "python/src/*.rs"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    files = [f for f in files if "/tests/" not in f and f.rsplit("/", 1)[-1] != "tests.rs"]
    problems = [p for f in files for p in check(f)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("split the code by job (CONTRIBUTING.md, \"Where things go\")", file=sys.stderr)
        return 1
    print(f"scripts/check-structure.py: {len(files)} files within {FILE_LIMIT} lines, functions within {FN_LIMIT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
