#!/usr/bin/env python3
"""Which builds each finding of a campaign holds for: a markdown table from OUT/summary.json.

A campaign across builds reports a known libvirt finding reproduced on another build under that
build's party (``libvirt:12.9.0``, ``oracle:11.3.0``, ...) with ``known_as`` naming the triaged
finding. Grouping by ``known_as`` (or the signature, for new ones) gives the targets each
behaviour holds for, which docs/findings.md records.

    python scripts/findings-by-build.py out/fuzz/summary.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def main(path: str) -> int:
    summary = json.load(open(path))
    by: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    new: set[str] = set()
    for f in summary["findings"]:
        key = f.get("known_as") or f["signature"]
        if f.get("targets"):  # recorded since targets became the unit of checks
            by[key].add(" & ".join(f["targets"]) if "->" not in f["party"] else " -> ".join(f["targets"]))
        else:
            party = f["party"]
            by[key].add({"libvirt": "libvirt:primary", "oracle": "oracle:primary",
                         "oracle-vs-libvirt": "oracle-vs-libvirt:primary"}.get(party, party))
        counts[key] += f.get("count", 1)
        if not f.get("known"):
            new.add(key)
    print(f"Campaign: {summary['cases']} cases, targets {', '.join(sorted(summary.get('cases_by_target', {})))}\n")
    print("| finding | holds for | occurrences |")
    print("|---|---|---|")
    for key in sorted(by):
        mark = " **new**" if key in new else ""
        print(f"| `{key}`{mark} | {', '.join(sorted(by[key]))} | {counts[key]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
