#!/usr/bin/env python3
"""Print per-arch agreement of the oracle with the real libvirt (markdown), for docs/fidelity.md.

Usage: scripts/differential-report.py [--generated N] [--seed S]
"""

from __future__ import annotations

import argparse

from fuzz.differential import compare, render, upstream_cases
from fuzz.generate import draw_batch
from virtfuzz.backends import open_backend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generated", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    try:
        up = upstream_cases()
        print(f"## libvirt 9.0.0 tests/qemuxml2argvdata ({len(up)} inputs in scope)\n")
        print(render(compare([n for n, _ in up], [x for _, x in up], oracle, libvirt)))
        cases = draw_batch(a.generated, a.seed)
        print(f"\n## generated domains ({len(cases)}, seed {a.seed})\n")
        print(render(compare([f"gen-{i}" for i in range(len(cases))], [c.xml for c in cases], oracle, libvirt)))
    finally:
        libvirt.close()


if __name__ == "__main__":
    main()
