"""Mutation test of the fuzzer: is each deliberately wrong oracle rule (bench/mutants.py) found?

For every mutant: run campaign batches (generated cases observed on the mutated oracle and the
real libvirt, all invariants checked) until a failure appears that the *unmutated* oracle does not
show on the same case, or the budget runs out. Reports, per mutant, detection, time to detect and
the reduced reproducer's size (elements), then the median time-to-detect.

Exit status: 0 every mutant detected; 1 one was missed (a checker or generator that stopped seeing
a class of oracle bug: CI fails on it). ``--max-batches`` bounds the search by batches instead of
by the clock alone, so the verdict does not depend on how loaded the machine is (CI, through
``tox -e mutation``: ``--max-batches 3``, a generous ``--budget`` as a guard only).

Usage: python bench/mutation_test.py [--budget 60] [--max-batches N] [--batch 48] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutants import MUTANTS  # noqa: E402

from fuzz.checks import check_targets  # noqa: E402
from fuzz.generate import draw_batch  # noqa: E402
from fuzz.observe import Case, observe  # noqa: E402
from fuzz.reduce import reduce_xml  # noqa: E402
from fuzz.signature import signature  # noqa: E402
from virtfuzz.backends import open_backend  # noqa: E402


def oracle_failures(oracle, libvirt_obs, cases):
    o_obs = observe(oracle, cases)
    return [{signature(f) for f in check_targets({"oracle": o, "libvirt": r}) if f.party != "libvirt"} for o, r in
            zip(o_obs, libvirt_obs, strict=True)]


def main(argv: list[str] | None = None, mutants: dict | None = None) -> int:
    """Run every mutant; 1 when one was missed. ``mutants`` replaces bench/mutants.py's (tests)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=60, help="seconds per mutant at most")
    ap.add_argument("--max-batches", type=int, default=0, help="batches per mutant at most (0: no limit)")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    mutants = MUTANTS if mutants is None else mutants
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus; budget {a.budget:.0f} s/mutant"
          + (f", at most {a.max_batches} batches of {a.batch}" if a.max_batches else ""), flush=True)
    cache: dict[int, tuple[list[Case], list]] = {}  # libvirt's observations do not depend on the mutant
    results = []
    t0 = time.monotonic()
    try:
        for name, make in mutants.items():
            start = time.monotonic()
            found = None
            batch_no = 0
            while (time.monotonic() - start < a.budget and found is None
                   and not (a.max_batches and batch_no >= a.max_batches)):
                seed = a.seed * 1000 + batch_no
                if seed not in cache:
                    cases = draw_batch(a.batch, seed)
                    cache[seed] = (cases, observe(libvirt, cases))
                cases, lobs = cache[seed]
                with make():
                    mutated = oracle_failures(oracle, lobs, cases)
                clean = oracle_failures(oracle, lobs, cases)
                for case, m, c in zip(cases, mutated, clean, strict=True):
                    new = m - c
                    if new:
                        found = (case, sorted(new)[0])
                        break
                batch_no += 1
            elapsed = time.monotonic() - start
            if found is None:
                results.append((name, False, elapsed, None))
                print(f"  MISSED   {name} ({batch_no} batches)", flush=True)
                continue
            case, sig = found

            def still(xmls: list[str], case=case, sig=sig, make=make) -> list[bool]:
                trials = [Case(xml=x, device=case.device, op=case.op) for x in xmls]
                lobs = observe(libvirt, trials)
                with make():
                    return [sig in s for s in oracle_failures(oracle, lobs, trials)]

            reduced, _ = reduce_xml(case.xml, still)
            size = sum(1 for _ in etree.fromstring(reduced.encode()).iter())
            results.append((name, True, elapsed, size))
            print(f"  DETECTED {name}: {elapsed:5.1f} s ({batch_no} batches), reduced to {size} elements, {sig}",
                  flush=True)
    finally:
        libvirt.close()
    detected = [r for r in results if r[1]]
    print(f"detected {len(detected)}/{len(results)} mutants in {time.monotonic() - t0:.0f} s")
    if detected:
        print(f"median time-to-detect {statistics.median(r[2] for r in detected):.1f} s; "
              f"median reduced size {statistics.median(r[3] for r in detected):.0f} elements")
    missed = [r[0] for r in results if not r[1]]
    if missed:
        print(f"MISSED {len(missed)} mutant(s): {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
