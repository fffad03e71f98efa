"""The regression corpus (``corpus/cases``, format: virtfuzz/corpus.py and docs/corpus.md):
``replay`` it on a target, ``check`` its hygiene, ``regen`` its expected outputs from a real build,
``add`` a campaign finding to it, ``export`` it for libvirt's own test programs."""

from __future__ import annotations

from virtfuzz.commands import corpus_add, corpus_check, corpus_regen, corpus_replay, export

HELP = "the regression corpus: replay, check, regen, add, export"
SUBCOMMANDS = {"replay": corpus_replay, "check": corpus_check, "regen": corpus_regen, "add": corpus_add,
               "export": export}
