"""Print constraints.txt: the installed version of every package `make setup` installs.

Run with the Python of a virtualenv on which the test suite is green (`make constraints`). The
packages are the dependency closure of setup.cfg's `install_requires` and `dev` extras (with the
extras and environment markers that apply here), plus the packages named on the command line
(those `make setup` installs with `--no-deps`). The project itself is left out.
"""

from __future__ import annotations

import configparser
import importlib.metadata as md
import os
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup_requirements() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    lines = cfg["options"]["install_requires"] + "\n" + cfg["options.extras_require"]["dev"]
    return [line.strip() for line in lines.splitlines() if line.strip()]


def closure(requirements: list[str]) -> dict[str, md.Distribution]:
    found: dict[str, tuple[md.Distribution, set]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        dist = md.distribution(req.name)  # PackageNotFoundError: the venv is incomplete
        extras = set(req.extras) | (found[key][1] if key in found else set())
        if key in found and extras == found[key][1]:
            continue
        found[key] = (dist, extras)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker and not any(sub.marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            todo.append(sub)
    return {key: dist for key, (dist, _) in found.items()}


def main(no_deps: list[str]) -> int:
    dists = closure(setup_requirements())
    dists.update({canonicalize_name(n): md.distribution(n) for n in no_deps})
    print("# Versions the test suite is green on; `make setup` installs with `-c constraints.txt`.")
    print("# Regenerate with `make constraints` from a virtualenv where `make test` passes.")
    for key in sorted(dists):
        print(f"{dists[key].metadata['Name']}=={dists[key].version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
