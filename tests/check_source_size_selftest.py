#!/usr/bin/env python3
"""Holds check_source_size.py to what it must find and what it must leave:
plants sources in a temporary engine directory and runs the check on them.
It fails if a long function, lambda, member function or constructor goes
unreported, or if a long raw string, data table, class, namespace or braces
in comments and strings are reported as functions."""

import os
import subprocess
import sys
import tempfile

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_source_size.py")


def body(n, indent="    "):
    return "".join(f"{indent}x += {k};\n" for k in range(n))


# Each case: (file name, source, the lines "path:line" that must be reported).
CASES = []

long_function = "namespace a {\nint f(int x)\n{\n" + body(85) + "    return x;\n}\n}\n"
CASES.append(("long_function.cpp", long_function, ["long_function.cpp:2: function body of 88"]))

short = "int g(int x)\n{\n" + body(70) + "    return x;\n}\n"
CASES.append(("short_function.cpp", short, []))

raw = ('const char* kScript = R"lua(\n' + "{ } { if x then end\n" * 200 + ')lua";\n'
       + "int h()\n{\n    const char* s = R\"(\n" + "}{\n" * 150 + ')";\n    return s[0];\n}\n')
CASES.append(("raw_string.cpp", raw, []))

table = "struct Row { int a; int b; };\nconst Row kRows[] = {\n" + "    {1, 2},\n" * 150 + "};\n"
CASES.append(("table.cpp", table, []))

klass = ("class Big : public Base\n{\npublic:\n" + "".join(
    f"    int m{k}() const {{ return {k}; }}\n" for k in range(120))
         + "    void longMember()\n    {\n" + body(90, "        ") + "    }\n};\n")
CASES.append(("klass.h", klass, ["klass.h:124: function body of 92"]))

lam = "namespace {\nconst auto kHandler = [](int x) {\n" + body(85) + "    return x;\n};\n}\n"
CASES.append(("lambda.cpp", lam, ["lambda.cpp:2: function body of 88"]))

ctor = ("Foo::Foo(int a)\n    : a_(a)\n    , b_{a, 2}\n    , c_(\"{\")\n{\n" + body(85)
        + "}\n")
CASES.append(("ctor.cpp", ctor, ["ctor.cpp:1: function body of 87"]))

noise = ("// a comment with { and {{{\nint k()\n{\n    const char* s = \"}}}\";\n"
         "    char c = '}';\n    int big = 1'000'000;\n    /* } */\n" + body(60) + "    return s[0] + c + big;\n}\n"
         "int after()\n{\n" + body(82) + "    return 0;\n}\n")
CASES.append(("noise.cpp", noise, ["noise.cpp:70: function body of 85"]))

lines = "int x;\n" * 760
CASES.append(("too_long_file.cpp", lines, ["too_long_file.cpp:1: file has 760 lines"]))


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, source, _ in CASES:
            with open(os.path.join(tmp, name), "w") as f:
                f.write(source)
        run = subprocess.run([sys.executable, CHECK, tmp], capture_output=True, text=True)
        out = run.stdout
        print(out)
        if run.returncode != 1:
            failures.append(f"the check exited {run.returncode} on planted offenders, want 1")
        reported = [l for l in out.splitlines() if "function body" in l or "file has" in l]
        expected = [e for _, _, want in CASES for e in want]
        for e in expected:
            if not any(e in l for l in reported):
                failures.append(f"not reported: {e}")
        for l in reported:
            if not any(e in l for e in expected):
                failures.append(f"reported but not an offender: {l}")
        # And a clean tree passes.
        for name, _, want in CASES:
            if want:
                os.remove(os.path.join(tmp, name))
        clean = subprocess.run([sys.executable, CHECK, tmp], capture_output=True, text=True)
        if clean.returncode != 0:
            failures.append(f"the check failed on sources within the limits:\n{clean.stdout}")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
