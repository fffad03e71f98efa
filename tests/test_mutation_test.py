"""bench/mutation_test.py fails when a mutant is missed (CI runs it as ``tox -e mutation``).

A mutant that changes nothing cannot be detected: the run must say MISSED and exit 1. A real one
(bench/mutants.py's "piix3-uhci has 3 ports") must be detected within one batch: exit 0. Both run
on a small batch against the real libvirt, the same way as the CI job.
"""

from __future__ import annotations

import importlib.util
from contextlib import nullcontext
from pathlib import Path

import pytest

pytestmark = pytest.mark.libvirt
BENCH = Path(__file__).resolve().parent.parent / "bench"


def _mutation_test():
    spec = importlib.util.spec_from_file_location("bench_mutation_test", BENCH / "mutation_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missed_mutant_fails_the_run_and_a_detected_one_passes(capsys):
    mt = _mutation_test()
    args = ["--max-batches", "1", "--batch", "48", "--budget", "120"]
    assert mt.main(args, mutants={"no change at all": nullcontext}) == 1
    out = capsys.readouterr().out
    assert "MISSED   no change at all (1 batches)" in out and "MISSED 1 mutant(s): no change at all" in out
    real = "piix3-uhci has 3 ports"
    assert mt.main(args, mutants={real: mt.MUTANTS[real]}) == 0
    out = capsys.readouterr().out
    assert f"DETECTED {real}" in out and "detected 1/1 mutants" in out
