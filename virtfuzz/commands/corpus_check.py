"""``virtfuzz corpus check [--root DIR]``: the corpus's hygiene, as libvirt's own test suite
enforces for its data: every context schema-valid (virtfuzz.corpus.CONTEXT_KEYS), every input with
a context and every context with an input, no orphan or stray file (an expected output whose case
or build suffix is unknown, or whose build the context does not name), names unique across topics,
no case twice (same input bytes and context). Exit status: 0 clean; 1 problems, one line each
("PATH: problem"); 2 no such corpus."""

from __future__ import annotations

import argparse

from virtfuzz import corpus
from virtfuzz.commands.corpus_select import root_of

HELP = "check the corpus: schema, orphans, duplicates, unique names"
BACKEND_OPTIONS = ()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, metavar="DIR", help="corpus directory (default: corpus/cases)")


def run(args: argparse.Namespace) -> int:
    root = root_of(args)
    cases, problems = corpus.check(root)
    for line in problems:
        print(line)
    topics = len({c.topic for c in cases})
    print(f"{root}: {len(cases)} cases in {topics} topics, {len(problems)} problems")
    return 1 if problems else 0
