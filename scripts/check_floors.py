#!/usr/bin/env python3
"""Checks that ipckit's floors are kept: no file includes a header of a higher floor.

The floors (docs/architecture.md, "Floors"): 1 core, 2 mechanisms, 3 channel, 4 inspect,
5 tools. Every file under include/ipckit/, src/, tools/ and bench/ has a floor; each of its
`#include "..."` lines that names a file of the repository must name one of the same floor or
a lower one. A file this script cannot place is an error too, so a new file gets its floor
written down here (and in docs/architecture.md) when it is added.

    scripts/check_floors.py [REPO]     exit 0 when every include goes down or sideways
    scripts/check_floors.py --self-test  shows that an upward include is caught
"""

import pathlib
import re
import sys
import tempfile

import house_check

CORE, MECHANISM, CHANNEL, INSPECT, TOOLS = 1, 2, 3, 4, 5
NAMES = {CORE: "core", MECHANISM: "mechanisms", CHANNEL: "channel", INSPECT: "inspect", TOOLS: "tools"}

# Public headers by stem; a source src/STEM.cpp (or src/STEM.hpp) takes its header's floor.
HEADERS = {
    "error": CORE, "fd": CORE, "deadline": CORE, "posix_name": CORE, "spin": CORE,
    "pipe": MECHANISM, "fifo": MECHANISM, "process": MECHANISM, "region": MECHANISM,
    "mapping": MECHANISM, "sync": MECHANISM, "shm": MECHANISM, "sysv": MECHANISM,
    "signal": MECHANISM, "mqueue": MECHANISM, "semaphore": MECHANISM, "socket": MECHANISM,
    "ring": MECHANISM,
    "channel": CHANNEL,
    "inspect": INSPECT,
}
# Private files of src/ that have no public header of their own.
PRIVATE = {
    "sys": CORE, "fd_util": CORE, "backoff": CORE,
    "sysv_common": MECHANISM, "sysv_msg": MECHANISM, "sysv_sem": MECHANISM,
    "sysvipc_table": MECHANISM, "trace": MECHANISM, "mqueue_mount": MECHANISM, "shm_util": MECHANISM,
}
DIRECTORIES = {"src/channel": CHANNEL, "src/inspect": INSPECT, "tools": TOOLS, "bench": TOOLS}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def floor_of(repo, path):
    """The floor of a repository file (a pathlib.Path under repo), or None when unknown."""
    rel = path.relative_to(repo).as_posix()
    for folder, floor in DIRECTORIES.items():
        if rel.startswith(folder + "/"):
            return floor
    if rel.startswith("include/ipckit/") and rel.count("/") == 2:
        return HEADERS.get(path.stem)
    if rel.startswith("src/") and rel.count("/") == 1:
        return HEADERS.get(path.stem, PRIVATE.get(path.stem))
    return None


def resolve(repo, including, name):
    """The repository file an include names: beside the includer, then include/, then src/."""
    for base in (including.parent, repo / "include", repo / "src"):
        candidate = (base / name).resolve()
        if candidate.is_file() and repo in candidate.parents:
            return candidate
    return None


def problems(repo):
    repo = repo.resolve()
    found = []
    files = [p for top in ("include/ipckit", "src", "tools", "bench") if (repo / top).is_dir()
             for p in sorted((repo / top).rglob("*")) if p.suffix in (".hpp", ".cpp", ".h")]
    for path in files:
        floor = floor_of(repo, path)
        rel = path.relative_to(repo).as_posix()
        if floor is None:
            found.append(f"{rel}: has no floor; add it to scripts/check_floors.py and docs/architecture.md")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = resolve(repo, path, match.group(1))
            if target is None:
                continue  # a system or third-party header
            target_floor = floor_of(repo, target)
            if target_floor is not None and target_floor > floor:
                found.append(f"{rel}:{number}: {NAMES[floor]} (floor {floor}) includes "
                             f"{target.relative_to(repo).as_posix()}, of {NAMES[target_floor]} "
                             f"(floor {target_floor}): a floor may use only the floors below it")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        repo = pathlib.Path(tmp)
        (repo / "include/ipckit").mkdir(parents=True)
        (repo / "src").mkdir()
        (repo / "include/ipckit/inspect.hpp").write_text("#pragma once\n")
        (repo / "include/ipckit/fd.hpp").write_text("#pragma once\n")
        (repo / "src/mqueue_mount.cpp").write_text('#include "ipckit/fd.hpp"\n#include "ipckit/inspect.hpp"\n')
        (repo / "src/stray.cpp").write_text("")
        found = problems(repo)
        expected = ["src/mqueue_mount.cpp:2: mechanisms (floor 2) includes include/ipckit/inspect.hpp",
                    "src/stray.cpp: has no floor"]
        for e in expected:
            if not any(f.startswith(e) for f in found):
                print(f"self-test: expected a problem starting with {e!r}, got {found}")
                return 1
        if len(found) != len(expected):
            print(f"self-test: expected {len(expected)} problems, got {found}")
            return 1
    print("self-test: an upward include and a file without a floor are both caught")
    return 0


def main(argv):
    return house_check.run(argv, problems, self_test, "floors kept: every include goes to the same floor or a lower one")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
