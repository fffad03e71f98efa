#!/usr/bin/env python3
"""One-off move of ``corpus/cases`` to format 2 (see virtfuzz/corpus.py). Run once; kept as the
record of how every file got where it is.

- ``oracle-golden/NAME.*`` (all recorded from libvirt 9.0.0, per ``recorded_with``) go to the topic
  of their family prefix (``virtfuzz.corpus.TOPICS``); ``NAME.expected.K`` becomes
  ``NAME.<arch>-9.0.0.expected.K``; the context gains ``provenance`` (from what the recording
  script says of each family; the two atheris cases' free-text provenance is split into source and
  why).
- ``oracle-builds/<V>/NAME.*`` (the same 122 inputs for each build V) merge into ``builds/``: one
  input, ``NAME.<arch>-<V>.expected.K`` for every V, and a new context (op define, arch and machine
  from the input, the QEMU of each build, provenance).

Files are renamed on disk and staged with ``git add -A`` of the old and new directories (what ``git mv`` does, for
21,000 files in one go: git records content, and ``git log --follow`` finds the unchanged files'
renames). ``--check`` only prints the plan's figures; ``--root DIR`` works on a copy, without git.

    .venv/bin/python scripts/migrate-corpus-v2.py [--check] [--root DIR]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from virtfuzz import corpus  # noqa: E402

CASES = REPO / "corpus" / "cases"
if "--root" in sys.argv:  # a copy, for a dry run (no git)
    CASES = Path(sys.argv[sys.argv.index("--root") + 1])
GOLDEN = CASES / "oracle-golden"
BUILDS = CASES / "oracle-builds"
OLD_EXPECTED = re.compile(r"^(?P<name>.+)\.expected\.(?P<kind>xml|err|mig\.xml|mig\.err|args)$")
BUILD_QEMU = {"7.0.0": "5.2.0", "11.3.0": "10.0.13", "12.9.0": "11.1.3"}  # builds/<V>.toml's QEMU

GENERATED = "recorded by scripts/record-golden.py from generated inputs"
FAMILY_SOURCE = {
    "define": "scripts/record-golden.py cases(): machine x device snippet grammar",
    "load": "scripts/record-golden.py cases(): machine x device snippet grammar, loaded by a driver start-up",
    "abi": "scripts/record-golden.py cases(): machine x device snippet grammar, destination = one edit (ABI_EDITS)",
    "attach": "scripts/record-golden.py cases(): config hotplug onto the minimal domain",
    "detach": "scripts/record-golden.py cases(): config unplug",
    "capsdel": "scripts/record-golden.py record_caps_del(): CAPS_DEL_CASES, a fake-QEMU capability variant",
    "edge": "scripts/record-golden.py edge_cases(): hand-written edge cases around the minimal-domain elements",
    "mutated": "scripts/record-golden.py mutant_cases(): seeded structural mutations of the define inputs",
    "random": "scripts/record-golden.py random_cases*(): seeded random combinations of pool snippets",
    "held-out": "scripts/record-golden.py all_cases(): held-out families (other seeds)",
}
FAMILY_WHY = {
    "held-out": "recorded after the oracle was developed against the other families: the held-out "
                "agreement measure of docs/fidelity.md; " + GENERATED,
    "capsdel": "what libvirt makes of a domain when QEMU lacks one capability; " + GENERATED,
}


def _provenance(name: str, topic: str, ctx: dict) -> dict:
    old = ctx.get("provenance")
    if isinstance(old, str):  # "tox -e atheris, parser target: the oracle crashed (...) ..."
        source, _, why = old.partition(": ")
        return {"source": source, "why": why}
    return {"source": FAMILY_SOURCE[topic], "why": FAMILY_WHY.get(topic, GENERATED)}


def plan() -> tuple[list[tuple[Path, Path]], dict[Path, str], list[Path]]:
    """(renames, contexts to write, files to delete)."""
    moves: list[tuple[Path, Path]] = []
    contexts: dict[Path, str] = {}
    drop: list[Path] = []
    for j in sorted(GOLDEN.glob("*.json")):
        name = j.name[:-5]
        ctx = json.loads(j.read_text())
        if not ctx.get("recorded_with", "").startswith("libvirt 9.0.0 "):
            raise SystemExit(f"{j}: recorded_with {ctx.get('recorded_with')!r}: not libvirt 9.0.0")
        topic = corpus.topic_for(name)
        if topic == corpus.FINDINGS_TOPIC:
            raise SystemExit(f"{j}: no topic for its family")
        dest = CASES / topic
        ctx["provenance"] = _provenance(name, topic, ctx)
        moves.append((j, dest / j.name))
        contexts[dest / j.name] = corpus.dump_context(ctx)
        for suffix in (".xml", ".dst.xml", ".dev.xml"):
            if (GOLDEN / f"{name}{suffix}").is_file():
                moves.append((GOLDEN / f"{name}{suffix}", dest / f"{name}{suffix}"))
        for kind, suffix in corpus.EXPECTED.items():
            p = GOLDEN / f"{name}{suffix}"
            if p.is_file():
                moves.append((p, dest / corpus.expected_name(name, ctx["arch"], "9.0.0", kind)))
    versions = sorted(p.name for p in BUILDS.iterdir() if p.is_dir())
    first = versions[0]
    for inp in sorted((BUILDS / first).glob("*.xml")):
        if ".expected." in inp.name:
            continue
        name = inp.name[:-4]
        xml = inp.read_text()
        arch = re.search(r"arch='([^']+)'", xml)[1]
        machine = re.search(r"machine='([^']+)'", xml)[1]
        dest = CASES / corpus.BUILDS_TOPIC
        moves.append((inp, dest / inp.name))
        for v in versions:
            if (BUILDS / v / inp.name).read_text() != xml:
                raise SystemExit(f"{BUILDS / v / inp.name}: differs from {inp}")
            if v != first:
                drop.append(BUILDS / v / inp.name)
            for kind, suffix in corpus.EXPECTED.items():
                p = BUILDS / v / f"{name}{suffix}"
                if p.is_file():
                    moves.append((p, dest / corpus.expected_name(name, arch, v, kind)))
        ctx = {"op": "define", "arch": arch, "machine": machine, "caps_del": [],
               "qemu": {v: BUILD_QEMU[v] for v in versions},
               "recorded_with": {v: f"libvirt {v} / QEMU {BUILD_QEMU[v]}, inside the build's root "
                                    "(scripts/record-profile-golden.py, scripts/recorder.py)" for v in versions},
               "provenance": {"source": "scripts/record-profile-golden.py domains(): machine x USB/PCI device set",
                              "why": "the same definitions on every real build: the oracle's per-build "
                                     "profiles against each build (tests/test_oracle_profiles.py)"}}
        contexts[dest / f"{name}.json"] = corpus.dump_context(ctx)
    known = {src for src, _ in moves} | set(drop)
    left = [p for p in [*GOLDEN.iterdir(), *BUILDS.rglob("*")] if p.is_file() and p not in known]
    if left:
        raise SystemExit(f"{len(left)} files the plan does not place, e.g. {left[:3]}")
    targets = Counter(dst for _, dst in moves)
    dup = [d for d, n in targets.items() if n > 1]
    if dup:
        raise SystemExit(f"two files would go to {dup[:3]}")
    return moves, contexts, drop


def main(argv: list[str]) -> int:
    if not GOLDEN.is_dir():
        print(f"{GOLDEN}: not there (already migrated?)", file=sys.stderr)
        return 1
    moves, contexts, drop = plan()
    by_topic = Counter(dst.parent.name for dst, _ in ((d, s) for s, d in moves) if dst.name.endswith(".json"))
    print(f"{len(moves)} renames, {len(contexts)} contexts, {len(drop)} duplicate inputs dropped; "
          f"topics: {dict(sorted(by_topic.items()))}")
    if argv[:1] == ["--check"]:
        return 0
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    for path, text in contexts.items():
        path.write_text(text)
    for p in drop:
        p.unlink()
    for d in sorted(BUILDS.rglob("*"), reverse=True):
        d.rmdir()
    BUILDS.rmdir()
    GOLDEN.rmdir()
    if "--root" not in argv:  # only the paths moved (another directory under corpus/cases is not ours)
        dirs = sorted({str(dst.parent) for _, dst in moves} | {str(GOLDEN), str(BUILDS)})
        subprocess.run(["git", "add", "-A", "--", *dirs], cwd=REPO, check=True)
    problems = [p for p in corpus.scan(CASES).problems if any(f"/{d.name}/" in p for d in
                                                          {dst.parent for _, dst in moves})]
    print(f"corpus check: {len(problems)} problems", *problems[:20], sep="\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
