#!/usr/bin/env python3
"""Which builds each finding of a campaign holds for: a markdown table from OUT/summary.json, and
(``--record``) the same written into the known findings.

A campaign across builds reports a known libvirt finding reproduced on another build under that
build's party (``libvirt:12.9.0``, ``oracle:11.3.0``, ...) with ``known_as`` naming the triaged
finding. Grouping by ``known_as`` (or the signature, for new ones) gives the targets each
behaviour holds for, which docs/findings.md records. ``--record`` adds them to each known
finding's ``finding.json`` as ``holds_for`` (a sorted union over every summary given and what was
recorded before: a campaign shows where a behaviour holds, never where it does not).

    python scripts/findings-by-build.py out/fuzz/summary.json
    python scripts/findings-by-build.py --record out1/summary.json out2/summary.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

KNOWN = Path(__file__).resolve().parent.parent / "corpus" / "known-findings"


def primary_of(summary: dict) -> str:
    """The campaign's own build: its libvirt target that is not one of the other ``builds``."""
    others = set(summary.get("builds") or [])
    mine = [t.split(":", 1)[1] for t in summary.get("cases_by_target", {})
            if t.startswith("libvirt:") and t.split(":", 1)[1] not in others]
    return (summary.get("context") or {}).get("libvirt") or (mine[0] if mine else "primary")


def targets(f: dict, primary: str) -> str:
    """One finding's targets as one string: ``A & B`` for a relation, ``A -> B`` for a migration."""
    if f.get("targets"):  # recorded since targets became the unit of checks
        return (" -> " if "->" in f["party"] else " & ").join(f["targets"])
    sides = []
    for side in f["party"].split("->"):
        kind, _, version = side.partition(":")
        kinds = ("oracle", "libvirt") if kind == "oracle-vs-libvirt" else (kind,)
        sides.append(" & ".join(f"{k}:{version or primary}" for k in kinds))
    return " -> ".join(sides)


def holds_for(summaries: list[dict]) -> tuple[dict[str, set[str]], dict[str, int], set[str]]:
    by: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    new: set[str] = set()
    for summary in summaries:
        primary = primary_of(summary)
        for f in summary["findings"]:
            key = f.get("known_as") or f["signature"]
            by[key].add(targets(f, primary))
            counts[key] += f.get("count", 1)
            if not f.get("known"):
                new.add(key)
    return by, counts, new


def record(by: dict[str, set[str]], new: set[str], known: Path = KNOWN) -> list[str]:
    """Merge ``holds_for`` into each known finding seen; the signatures updated."""
    done = []
    for key, where in sorted(by.items()):
        path = known / key / "finding.json"
        if key in new or not path.is_file():
            continue
        rec = json.loads(path.read_text())
        merged = sorted(set(rec.get("holds_for", [])) | where)
        if merged == rec.get("holds_for"):
            continue
        rec["holds_for"] = merged
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".finding-")
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(rec, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        done.append(key)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("summaries", nargs="+", type=Path, help="OUT/summary.json of a campaign")
    ap.add_argument("--record", action="store_true", help="write holds_for into corpus/known-findings")
    a = ap.parse_args(argv)
    summaries = []
    for p in a.summaries:
        try:
            summaries.append(json.loads(p.read_text()))
        except (OSError, ValueError) as e:
            print(f"{p}: cannot read a campaign summary: {e}", file=sys.stderr)
            return 2
    by, counts, new = holds_for(summaries)
    cases = sum(s["cases"] for s in summaries)
    seen = sorted({t for s in summaries for t in s.get("cases_by_target", {})})
    print(f"Campaign: {cases} cases, targets {', '.join(seen)}\n")
    print("| finding | holds for | occurrences |")
    print("|---|---|---|")
    for key in sorted(by):
        mark = " **new**" if key in new else ""
        print(f"| `{key}`{mark} | {', '.join(sorted(by[key]))} | {counts[key]} |")
    if a.record:
        done = record(by, new)
        print(f"\nholds_for updated in {len(done)} known findings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
