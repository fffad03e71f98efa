"""Run a fuzz campaign: generated domains and hotplug steps, checked on the oracle and the real libvirt.

Writes ``OUT/summary.json``, ``OUT/report.md`` (with ``--junit-xml PATH`` also JUnit XML) and one
``OUT/findings/<signature>/`` per new de-duplicated finding (reduced reproducer; ``virtfuzz
replay`` re-runs it). Exit status 1 only for findings not already known (``corpus/known-findings/``);
2 when the campaign itself failed (a batch raised an exception: a virtfuzz bug, listed under
``batch_errors`` in summary.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from virtfuzz.inputs import InputError

HELP = "run a differential fuzz campaign (the main job behind `tox -e fuzz`)"
DEFAULT_BACKEND = "both"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=float, default=120.0, metavar="SECONDS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: min(cpus, 2))")
    p.add_argument("--out", default="out/fuzz", metavar="DIR")
    p.add_argument("--batch", type=int, default=48, help="cases per batch")
    p.add_argument("--variant-rate", type=float, default=0.3,
                   help="share of cases given a random fake-QEMU capability variant (0 = installed QEMU only)")
    p.add_argument("--junit-xml", type=Path, default=None, metavar="PATH",
                   help="also write JUnit XML: one test case per finding (failure if new, skipped if known)")


def run(args: argparse.Namespace) -> int:
    from fuzz.campaign import CampaignConfig, default_jobs, run_campaign

    if args.budget <= 0:
        raise InputError("--budget must be positive")
    backends = ("oracle", "libvirt") if args.backend == "both" else (args.backend,)
    cfg = CampaignConfig(budget=args.budget, seed=args.seed, jobs=args.jobs or default_jobs(),
                         out=Path(args.out), backends=backends, libvirt_version=args.libvirt,
                         qemu=args.qemu, caps_del=tuple(args.caps_del), batch=args.batch,
                         variant_rate=0.0 if (args.qemu or args.caps_del) else args.variant_rate,
                         junit_xml=args.junit_xml)
    _, status = run_campaign(cfg)
    return status
