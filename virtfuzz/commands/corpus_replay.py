"""``virtfuzz corpus replay [--target KIND:VERSION]... [--topic T] [-k SUBSTR] [--json PATH]``: every
selected case that records the answer of the target's libvirt version, replayed on that target (a
real build, or the oracle's profile of that version) through the backend's batch calls, and
compared with the recording. One summary line per target; each failing case on a line of its own.
Exit status: 0 every case passes (the oracle declining a case is an oracle gap, counted, not a
failure); 1 a case differs; 2 bad input (unknown topic or target, no case records the target's
version)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from virtfuzz.atomic import write_text
from virtfuzz.commands.corpus_select import add_selection, add_targets, selected, targets
from virtfuzz.inputs import InputError

HELP = "replay the corpus on a real build or the oracle and compare with the recorded answers"
BACKEND_OPTIONS = ("--backend", "--libvirt")  # each case carries its own --qemu/--caps-del context


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_selection(p)
    add_targets(p)
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON")


def run(args: argparse.Namespace) -> int:
    from virtfuzz.corpus_replay import replay

    cases = selected(args)
    tgts = targets(args)
    reports = []
    for t in tgts:
        mine = [c for c in cases if c.has(t.version)]
        if not mine:
            raise InputError(f"no selected case records libvirt {t.version}'s answers (target {t})")
        reports.append(replay(mine, t))
    for r in reports:
        for o in r.outcomes:
            if o.status == "fail":
                print(f"FAIL {r.target} {o.case.topic}/{o.case.name}: {o.problem}")
    for r in reports:
        print(r.summary())
    if args.json:
        write_text(Path(args.json), json.dumps({"targets": [r.to_dict() for r in reports]}, indent=1) + "\n")
    return 1 if any(r.count("fail") for r in reports) else 0
