#!/usr/bin/env python3
"""Checks that the library's code stays readable in pieces: every file under src/ has fewer
than 900 lines, and no function there is longer than 80 lines (from the first line of its
signature to its closing brace; lambdas count in the function that holds them).

    scripts/check_sizes.py [REPO]       exit 0 when every file and function is within bounds
    scripts/check_sizes.py --self-test  shows that a long function and a long file are caught

Functions are found by their braces, after comments, strings and character literals are
blanked out: a `{` that opens at namespace or class level after a `)` (and qualifiers or a
constructor's initialiser list) opens a function.
"""

import pathlib
import re
import sys
import tempfile

import house_check

MAX_FILE_LINES = 899
MAX_FUNCTION_LINES = 80

SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b[^()]*$|extern\s*$")


def blank(text):
    """The text with comments, strings and character literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            k = text.find("(", i)
            delim = ")" + text[i + 2:k] + '"'
            j = text.find(delim, k)
            j = n if j == -1 else j + len(delim)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # a digit separator: 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def long_functions(text):
    """(first line, lines) of each function longer than MAX_FUNCTION_LINES."""
    code = blank(text)
    found = []
    stack = []  # kinds of the open braces: "scope", "function", "other"
    head_start = 0  # where the text before the next brace at this level begins
    line_of = [0] * (len(code) + 1)
    line = 1
    for i, c in enumerate(code):
        line_of[i] = line
        if c == "\n":
            line += 1
    starts = []
    for i, c in enumerate(code):
        if c == "{":
            head = code[head_start:i]
            in_function = any(k == "function" for k in stack)
            stripped = head.strip()
            if in_function:
                kind = "other"
            elif i > 0 and (code[i - 1].isalnum() or code[i - 1] == "_"):
                kind = "other"  # a member's brace initialiser: x_{...}
            elif SCOPE.search(stripped) or stripped.startswith("extern"):
                kind = "scope"
            elif ")" in stripped and not stripped.endswith("="):
                kind = "function"
            else:
                kind = "other"
            stack.append(kind)
            if kind == "function":
                first = head_start + (len(head) - len(head.lstrip()))
                starts.append(line_of[first])
            else:
                starts.append(None)
            if kind != "other":
                head_start = i + 1
        elif c == "}":
            kind = stack.pop() if stack else "scope"
            start = starts.pop() if starts else None
            if kind == "function":
                length = line_of[i] - start + 1
                if length > MAX_FUNCTION_LINES:
                    found.append((start, length))
            if kind != "other" or not any(k == "function" for k in stack):
                head_start = i + 1
        elif c == ";" and not any(k == "function" for k in stack):
            head_start = i + 1
    return found


def problems(repo):
    found = []
    for path in sorted((repo / "src").rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        rel = path.relative_to(repo).as_posix()
        text = path.read_text(errors="replace")
        lines = text.count("\n")
        if lines > MAX_FILE_LINES:
            found.append(f"{rel}: {lines} lines; a file under src/ has fewer than {MAX_FILE_LINES + 1}")
        for start, length in long_functions(text):
            found.append(f"{rel}:{start}: a function of {length} lines; at most {MAX_FUNCTION_LINES}")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        repo = pathlib.Path(tmp)
        (repo / "src").mkdir()
        body = "".join(f"  x += {i};  // }} {{ \"{{\"\n" for i in range(80))
        (repo / "src/long.cpp").write_text(
            "namespace a {\nstruct S {\n  int f() const {\n    int x{0};\n" + body + "    return x;\n  }\n};\n"
            "S::S() : m_{1}, n_(2) {\n  auto l = [] { return 1; };\n}\n}  // namespace a\n")
        (repo / "src/big.hpp").write_text("int x;\n" * 900)
        found = problems(repo)
        expected = ["src/big.hpp: 900 lines", "src/long.cpp:3: a function of 84 lines"]
        if len(found) != len(expected) or not all(f.startswith(e) for f, e in zip(found, expected)):
            print(f"self-test: expected problems starting with {expected}, got {found}")
            return 1
    print("self-test: a long function and a long file are both caught")
    return 0


def main(argv):
    return house_check.run(argv, problems, self_test, f"sizes kept: every file under src/ below {MAX_FILE_LINES + 1} lines, every function at most {MAX_FUNCTION_LINES}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
