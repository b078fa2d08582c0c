#!/usr/bin/env python3
"""Issue 12's size rule for engine/: no source file over MAX_FILE lines, no
function or lambda body over MAX_FUNCTION lines.

usage: check_source_size.py ENGINE_DIR [--exceptions FILE]
                            [--max-file N] [--max-function N]

It prints each offender as "path:line: ..." and exits 1 when there is one.
The limits: files 750 lines (the issue's "about 700" with a 50-line
tolerance), function bodies 80 lines, counted from the line of the opening
brace to the line of the closing one, leaving out lines that lie wholly
inside a raw string literal (an embedded Lua script or JSON template is
data, not code).

What counts as a function is decided by a brace matcher over the source with
comments, string, character and raw string literals and preprocessor lines
blanked out (so braces in them do not count). An opening brace at namespace
or class scope opens
  - a scope, when its head starts with namespace / extern "C" or is a
    class, struct, union or enum head (no parenthesis after the keyword);
  - a function or lambda body, when its head ends like "(...) qualifiers",
    a lambda introducer "[...]" or "[...](...)", or a constructor's member
    initialiser list;
  - otherwise an initialiser (a data table, "T x{...}"), which is not a
    function but is searched for lambdas inside it.
Everything inside a function body (blocks, nested lambdas) belongs to that
body; the outermost body is the one measured.

The exceptions file, if given, lists paths relative to ENGINE_DIR (one a
line, '#' starts a comment) whose offenders are reported as tolerated and do
not fail the check; a listed path that no longer offends fails it, so the
list can only shrink.
"""

import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".cpp", ".h", ".hpp", ".cc", ".inl")


def blank(text):
    """Returns (code, raw_lines): text with comments, literals and
    preprocessor lines replaced by spaces (newlines kept, so offsets and line
    numbers stay), and the set of 1-based line numbers that lie wholly inside
    a raw string literal."""
    out = list(text)
    raw_lines = set()
    n = len(text)
    i = 0
    line = 1
    at_line_start = True

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            at_line_start = True
            i += 1
            continue
        if at_line_start and c in " \t":
            i += 1
            continue
        if at_line_start and c == "#":
            # A preprocessor line, with its backslash continuations.
            j = i
            while j < n:
                if text[j] == "\n" and text[j - 1] != "\\":
                    break
                j += 1
            # Comments inside the directive are wiped with it.
            wipe(i, j)
            line += text.count("\n", i, j)
            i = j
            continue
        at_line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            wipe(i, j)
            line += text.count("\n", i, j)
            i = j
            continue
        m = re.compile(r'(?:u8|[uUL])?R"([^()\\ \t\n]{0,16})\(').match(text, i)
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end_marker = ")" + m.group(1) + '"'
            j = text.find(end_marker, m.end())
            j = n if j < 0 else j + len(end_marker)
            first = line
            wipe(m.end(), j - len(end_marker))
            line += text.count("\n", i, j)
            # Lines strictly between the opening and closing lines are data.
            raw_lines.update(range(first + 1, line))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            wipe(i + 1, min(j, n))
            i = j + 1
            continue
        if c == "'":
            # A digit separator (1'000'000) is not a character literal.
            k = i - 1
            while k >= 0 and (text[k].isalnum() or text[k] in "'._"):
                k -= 1
            if k + 1 < i and text[k + 1].isdigit():
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            wipe(i + 1, min(j, n))
            i = j + 1
            continue
        i += 1
    return "".join(out), raw_lines


CLASS_HEAD = re.compile(
    r"(?:^|[\s;>])(?:class|struct|union|enum(?:\s+(?:class|struct))?)\b[^()=]*$", re.S)
NAMESPACE_HEAD = re.compile(r"^(?:inline\s+)?namespace\b|^extern\s*\"\s*\"$", re.S)
TRAILING_QUALIFIERS = re.compile(
    r"(?:\s*(?:const|mutable|constexpr|consteval|noexcept|override|final|volatile|"
    r"&&|&|try|->\s*[\w:<>,\s*&]+?))*\s*$", re.S)


def strip_qualifiers(head):
    """Removes trailing qualifiers, noexcept(...) and trailing return types."""
    prev = None
    while prev != head:
        prev = head
        head = re.sub(r"\bnoexcept\s*\([^()]*\)\s*$", "", head).rstrip()
        head = TRAILING_QUALIFIERS.sub("", head).rstrip()
        head = re.sub(r"->\s*[\w:<>,\s*&]+$", "", head).rstrip()
    return head


def before_group(head):
    """head ends with ')': returns the text before its matching '('."""
    depth = 0
    for k in range(len(head) - 1, -1, -1):
        if head[k] == ")":
            depth += 1
        elif head[k] == "(":
            depth -= 1
            if depth == 0:
                return head[:k].rstrip()
    return None


def is_lambda(head):
    h = strip_qualifiers(head.rstrip())
    if h.endswith(")"):
        b = before_group(h)
        if b is None:
            return False
        h = b
    if h.endswith(">"):
        # A template lambda: []<typename T>(T x) {...}
        depth = 0
        for k in range(len(h) - 1, -1, -1):
            if h[k] == ">":
                depth += 1
            elif h[k] == "<":
                depth -= 1
                if depth == 0:
                    h = h[:k].rstrip()
                    break
    return h.endswith("]")


def top_level(head):
    """head with everything inside parentheses removed (kept as '()')."""
    out = []
    depth = 0
    for c in head:
        if c == "(":
            if depth == 0:
                out.append("(")
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                out.append(")")
        elif depth == 0:
            out.append(c)
    return "".join(out), depth


def classify(head, in_initialiser):
    """What an opening brace outside any function body opens."""
    h = " ".join(head.split())
    if NAMESPACE_HEAD.search(h):
        return "scope"
    if is_lambda(h):
        return "function"
    if in_initialiser:
        return "init"
    top, open_parens = top_level(h)
    if open_parens > 0:
        return "init"  # f({...}) at namespace scope: an argument
    if CLASS_HEAD.search(top):
        return "scope"
    # A top-level '=' (not ==, <=, >=, !=, operator=) makes it an initialiser.
    if re.search(r"(?<![=<>!])=(?!=)", top) and "operator" not in top:
        return "init"
    if "(" not in top:
        return "init"
    first_close = top.find(")")
    rest = top[first_close + 1:]
    # A constructor's member initialiser list: "X::X(a) : m_(a), n_{b}".
    m = re.search(r"(?<!:):(?!:)", rest)
    if m:
        tail = rest.rstrip()
        if re.search(r"[\w>]$", tail):
            return "init"  # the brace of a member initialiser "n_{"
        return "function"
    stripped = strip_qualifiers(top)
    return "function" if stripped.endswith(")") else "init"


def functions(code, raw_lines):
    """Yields (line, length) of each outermost function or lambda body."""
    stack = [("scope", 0, 0)]  # (kind, open offset, open line)
    head_start = 0
    line = 1
    line_of = []
    for c in code:
        line_of.append(line)
        if c == "\n":
            line += 1
    results = []
    for i, c in enumerate(code):
        kind = stack[-1][0]
        if kind in ("function", "inner"):
            if c == "{":
                stack.append(("inner", i, line_of[i]))
            elif c == "}":
                opened = stack.pop()
                if opened[0] == "function":
                    first, last = opened[2], line_of[i]
                    length = last - first + 1 - sum(
                        1 for k in raw_lines if first < k < last)
                    results.append((head_line(code, head_of(opened), line_of, first), length))
                    head_start = i + 1 if stack[-1][0] == "scope" else head_start
            continue
        if c == ";":
            head_start = i + 1
        elif c == "{":
            what = classify(code[head_start:i], kind == "init")
            stack.append((what, i, line_of[i], head_start))
            if what == "scope":
                head_start = i + 1
        elif c == "}":
            if len(stack) == 1:
                continue  # unbalanced; ignore rather than crash
            opened = stack.pop()
            if opened[0] == "scope":
                head_start = i + 1
            else:
                # An initialiser's braces stay part of the head around them,
                # so "T x{...}" or "m_{...} {" still read as one head.
                head_start = opened[3] if len(opened) > 3 else head_start
    return results


def head_of(entry):
    return entry[3] if len(entry) > 3 else entry[1]


def head_line(code, start, line_of, fallback):
    """The line where a function's head begins (its first non-blank)."""
    k = start
    while True:
        while k < len(code) and code[k].isspace():
            k += 1
        # An access label before the head ("public:") is not the head.
        m = re.compile(r"(?:public|private|protected)\s*:(?!:)").match(code, k)
        if not m:
            break
        k = m.end()
    return line_of[k] if k < len(code) else fallback


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine_dir")
    ap.add_argument("--exceptions")
    ap.add_argument("--max-file", type=int, default=750)
    ap.add_argument("--max-function", type=int, default=80)
    args = ap.parse_args()

    tolerated = set()
    if args.exceptions:
        with open(args.exceptions, encoding="utf-8") as f:
            for raw in f:
                entry = raw.split("#", 1)[0].strip()
                if entry:
                    tolerated.add(entry)

    offenders = {}  # path -> [message]
    for root, dirs, files in os.walk(args.engine_dir):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, args.engine_dir)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
            if lines > args.max_file:
                offenders.setdefault(rel, []).append(
                    f"engine/{rel}:1: file has {lines} lines (limit {args.max_file})")
            code, raw_lines = blank(text)
            for first, length in functions(code, raw_lines):
                if length > args.max_function:
                    offenders.setdefault(rel, []).append(
                        f"engine/{rel}:{first}: function body of {length} lines "
                        f"(limit {args.max_function})")

    failed = False
    for rel in sorted(offenders):
        for message in offenders[rel]:
            if rel in tolerated:
                print(f"tolerated (exceptions list): {message}")
            else:
                print(message)
                failed = True
    for rel in sorted(tolerated - set(offenders)):
        print(f"engine/{rel}: listed as an exception but within the limits: "
              f"remove it from {args.exceptions}")
        failed = True
    if failed:
        print(f"source size check failed: files must stay within {args.max_file} lines "
              f"and function bodies within {args.max_function} (issue 12); split by responsibility")
        return 1
    print(f"source size check: every file under {args.engine_dir} within {args.max_file} "
          f"lines, every function body within {args.max_function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
