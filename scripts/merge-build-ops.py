#!/usr/bin/env python3
"""One-off: fold ``corpus/cases/build-ops/`` (copies of 599 of the libvirt 9.0.0 inputs, each with
every build's answers, made by ``scripts/record-profile-golden.py --ops`` before the corpus had
format 2) into the cases they were copied from: in format 2 one case carries several builds'
answers (virtfuzz/corpus.py), so a second copy under the same name is a duplicate.

For each copy: its inputs must be byte-identical to the case's, and its 9.0.0 answers identical to
the case's own (else nothing is changed and the differences are listed); the 7.0.0, 11.3.0 and
12.9.0 answers move beside the case (their file names are already format 2's), and the case's
context gains those builds in ``recorded_with`` and ``qemu`` (each build's own QEMU), the copy's
``machines_unknown_to_build``/``abi_machine_differs`` notes, and the copy's provenance as
``provenance.answers``. Files move on disk and are staged with ``git add -A`` of the directories
touched.

    .venv/bin/python scripts/merge-build-ops.py [--check]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from virtfuzz import corpus  # noqa: E402

CASES = REPO / "corpus" / "cases"
OPS = CASES / "build-ops"
BUILD_QEMU = {"7.0.0": "5.2.0", "9.0.0": "7.2.0", "11.3.0": "10.0.13", "12.9.0": "11.1.3"}
RECORDED = ("libvirt {v} / QEMU {q}, inside the build's root "
            "(scripts/record-profile-golden.py --ops, scripts/recorder.py)")


def main(argv: list[str]) -> int:
    cases = {c.name: c for c in corpus.cases(CASES) if c.topic != OPS.name}
    copies = [c for c in corpus.cases(CASES) if c.topic == OPS.name]
    problems, moves, contexts, drop = [], [], {}, []
    for cp in copies:
        t = cases.get(cp.name)
        if t is None:
            problems.append(f"{cp.input}: no case {cp.name} outside build-ops")
            continue
        if cp.input.read_bytes() != t.input.read_bytes():
            problems.append(f"{cp.input}: input differs from {t.input}")
        for role in corpus.SECOND:
            a, b = cp.second(role), t.second(role)
            if (a and a.read_bytes()) != (b and b.read_bytes()):
                problems.append(f"{cp.name}: {role} input differs")
        if cp.read_expected("9.0.0") != t.read_expected("9.0.0"):
            problems.append(f"{cp.name}: 9.0.0 answers differ: {sorted(cp.read_expected('9.0.0'))} vs "
                            f"{sorted(t.read_expected('9.0.0'))}")
        ctx = dict(t.context)
        old = ctx["recorded_with"]
        ctx["recorded_with"] = {"9.0.0": old, **{v: RECORDED.format(v=v, q=BUILD_QEMU[v])
                                                 for v in BUILD_QEMU if v != "9.0.0"}}
        ctx["qemu"] = {v: (t.context["qemu"] if v == "9.0.0" else q) for v, q in BUILD_QEMU.items()}
        for key in ("machines_unknown_to_build", "abi_machine_differs"):
            if key in cp.context:
                ctx[key] = cp.context[key]
        prov = dict(cp.context["provenance"])
        prov.pop("input", None)
        ctx["provenance"] = {**t.context["provenance"],
                             "answers": f"libvirt 7.0.0, 11.3.0, 12.9.0: {prov['source']} ({prov['why']})"}
        contexts[t.dir / f"{t.name}.json"] = corpus.dump_context(ctx)
        for v, kinds in cp.builds.items():
            for p in kinds.values():
                if v == "9.0.0":
                    drop.append(p)
                else:
                    moves.append((p, t.dir / p.name))
        drop += [cp.dir / f"{cp.name}.json", cp.input] + [p for r in corpus.SECOND if (p := cp.second(r))]
    left = {p for p in OPS.iterdir()} - {s for s, _ in moves} - set(drop)
    problems += [f"{p}: not placed" for p in sorted(left)]
    print(f"{len(copies)} copies: {len(moves)} answers move, {len(contexts)} contexts, {len(drop)} files dropped; "
          f"{len(problems)} problems", *problems[:20], sep="\n")
    if problems or argv[:1] == ["--check"]:
        return 1 if problems else 0
    for src, dst in moves:
        os.replace(src, dst)
    for path, text in contexts.items():
        path.write_text(text)
    for p in drop:
        p.unlink()
    OPS.rmdir()
    dirs = sorted({str(d.parent) for d in contexts} | {str(OPS)})
    subprocess.run(["git", "add", "-A", "--", *dirs], cwd=REPO, check=True)
    _, after = corpus.check(CASES)
    print(f"corpus check: {len(after)} problems", *after[:20], sep="\n")
    return 1 if after else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
