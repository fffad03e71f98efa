"""``virtfuzz corpus regen [--target libvirt:VERSION]... [--topic T] [-k SUBSTR] [--write]``: re-record
the expected outputs of every selected case that holds build VERSION's answers, from that real
build (``scripts/recorder.py``, inside the build's root for a build other than the host's), and
show a unified diff of what changed; ``--write`` stores the new answers (libvirt's
``VIR_TEST_REGENERATE_OUTPUT``). Only real builds record: an oracle target is a usage error.
Exit status: 0 nothing differs (or ``--write`` stored it); 1 answers differ; 2 bad input."""

from __future__ import annotations

import argparse
import difflib
import sys

from virtfuzz import corpus
from virtfuzz.commands.corpus_select import add_selection, add_targets, selected, targets
from virtfuzz.inputs import InputError

HELP = "re-record expected outputs from a real build and show the diff (--write stores them)"
BACKEND_OPTIONS = ("--libvirt",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_selection(p)
    add_targets(p)
    p.add_argument("--write", action="store_true", help="store the re-recorded answers")


def diff(case: corpus.CorpusCase, version: str, new: dict[str, str]) -> list[str]:
    """Unified diff lines between VERSION's stored answers for CASE and NEW (kind -> text)."""
    old = case.read_expected(version)
    lines: list[str] = []
    for kind in corpus.EXPECTED:
        a, b = old.get(kind), new.get(kind)
        if a == b:
            continue
        path = case.expected_path(version, kind)
        lines += difflib.unified_diff((a or "").splitlines(keepends=True), (b or "").splitlines(keepends=True),
                                      fromfile=str(path) if a is not None else "/dev/null",
                                      tofile=str(path) if b is not None else "/dev/null")
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
    return lines


def run(args: argparse.Namespace) -> int:
    from virtfuzz.recording import record_cases

    cases = selected(args)
    differ = 0
    for t in targets(args, kinds=("libvirt",)):
        mine = [c for c in cases if c.has(t.version)]
        if not mine:
            raise InputError(f"no selected case records libvirt {t.version}'s answers")
        answers = record_cases(mine, t.version)
        changed = 0
        for c in mine:
            lines = diff(c, t.version, answers[c.name])
            if lines:
                changed += 1
                sys.stdout.writelines(lines)
                if args.write:
                    corpus.replace_expected(c, t.version, answers[c.name])
        differ += changed
        what = "written" if args.write else "differ (--write stores them)"
        print(f"libvirt {t.version}: {len(mine)} cases re-recorded, {changed} {what}")
    return 1 if differ and not args.write else 0
