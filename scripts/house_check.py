"""What the repository's checks (check_floors.py, check_sizes.py) share: the command line."""

import pathlib


def run(argv, problems, self_test, kept):
    """`SCRIPT [REPO]` prints each problem (exit 1) or `kept` (exit 0); `SCRIPT --self-test`
    runs self_test(). `problems(repo)` returns the problems as lines."""
    if argv[1:] == ["--self-test"]:
        return self_test()
    repo = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).parent.parent).resolve()
    found = problems(repo)
    for f in found:
        print(f)
    if found:
        return 1
    print(kept)
    return 0
