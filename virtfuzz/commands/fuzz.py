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
    p.add_argument("--max-batches", type=int, default=None, metavar="N",
                   help="each job stops after N batches (sequence and live rounds count as batches); "
                        "--budget still bounds the time: with a fixed --seed, the same work on any machine")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: min(cpus, 2))")
    p.add_argument("--out", default="out/fuzz", metavar="DIR")
    p.add_argument("--batch", type=int, default=48, help="cases per batch")
    p.add_argument("--variant-rate", type=float, default=0.3,
                   help="share of cases given a random fake-QEMU capability variant (0 = installed QEMU only)")
    p.add_argument("--target", action="append", default=[], metavar="KIND:VERSION",
                   help="who answers (repeatable), e.g. --target oracle:9.0.0 --target libvirt:9.0.0 "
                        "--target libvirt:12.9.0; the first libvirt target is the primary build, the "
                        "others are checked beside it and migrated to and from it; only oracle targets, e.g. "
                        "--target oracle:1.3.1 --target oracle:2.2.0: the first one's checks, and every case "
                        "migrated between each ordered pair of them (default: --backend/"
                        "--libvirt plus every other installed build)")
    p.add_argument("--junit-xml", type=Path, default=None, metavar="PATH",
                   help="also write JUnit XML: one test case per finding (failure if new, skipped if known)")
    p.add_argument("--shard", type=_shard, default=(0, 1), metavar="K/N",
                   help="run shard K of N (1 <= K <= N): disjoint seeds, so N runners with the same options "
                        "are one campaign of N times the jobs; `virtfuzz merge` adds their outputs up")


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{text!r}: K must be between 1 and N")
    return k - 1, n


def _targets(args: argparse.Namespace) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    """(backends, primary version, other builds) from ``--target`` or ``--backend``/``--libvirt``."""
    from virtfuzz import buildroots
    from virtfuzz.targets import parse_target

    if not args.target:
        backends = ("oracle", "libvirt") if args.backend == "both" else (args.backend,)
        if "libvirt" not in backends:
            return backends, args.libvirt, ()
        primary = args.libvirt or (buildroots.host_build() or {}).get("version")
        others = () if (args.qemu or args.caps_del) else \
            tuple(v for v in buildroots.installed() if v != primary)
        return backends, args.libvirt, others
    if args.backend != DEFAULT_BACKEND or args.libvirt:
        raise InputError("--target names the backends and versions: drop --backend/--libvirt")
    targets = [parse_target(t) for t in args.target]
    real = [t.version or "default" for t in targets if t.kind == "libvirt"]
    profiles = {t.version for t in targets if t.kind == "oracle"}
    if not real and len(_oracle_pairs(args)) > 1:  # oracle profiles only: pairs of them (fuzz.era_pairs)
        return ("oracle",), _oracle_pairs(args)[0], ()
    if len(profiles) > 1 or (profiles and real and profiles != {real[0]} and None not in profiles):
        raise InputError("the oracle is compared with the primary (first) libvirt target: give one oracle "
                         "target with that target's version (several oracle targets and no libvirt one "
                         "migrate between each other)")
    backends = tuple(k for k in ("oracle", "libvirt") if any(t.kind == k for t in targets))
    primary = real[0] if real else next(iter(profiles), None)
    if real and (args.qemu or args.caps_del) and len(real) > 1:
        raise InputError("--qemu/--caps-del apply to the primary build only: give one libvirt target")
    return backends, None if primary == "default" else primary, tuple(real[1:])


def _oracle_pairs(args: argparse.Namespace) -> tuple[str, ...]:
    """The profiles of several oracle targets given without a real one (their order kept), else ()."""
    from oracle.profile import DEFAULT_PROFILE, known_profiles
    from virtfuzz.targets import parse_target

    targets = [parse_target(t) for t in args.target]
    if any(t.kind != "oracle" for t in targets):
        return ()
    versions = tuple(dict.fromkeys(t.version or DEFAULT_PROFILE for t in targets))
    if len(versions) < 2:
        return ()
    unknown = [v for v in versions if v not in known_profiles()]
    if unknown:
        raise InputError(f"unknown oracle profile {', '.join(unknown)}; known: {', '.join(known_profiles())}")
    if args.qemu or args.caps_del:
        raise InputError("--qemu/--caps-del are not applied to the pairs of oracle targets: give one target")
    return versions


def run(args: argparse.Namespace) -> int:
    from fuzz.campaign import CampaignConfig, default_jobs, run_campaign

    if args.budget <= 0:
        raise InputError("--budget must be positive")
    if args.max_batches is not None and args.max_batches <= 0:
        raise InputError("--max-batches must be positive")
    backends, libvirt_version, builds = _targets(args)
    cfg = CampaignConfig(budget=args.budget, seed=args.seed, jobs=args.jobs or default_jobs(),
                         out=Path(args.out), backends=backends, libvirt_version=libvirt_version, builds=builds,
                         qemu=args.qemu, caps_del=tuple(args.caps_del), batch=args.batch,
                         variant_rate=0.0 if (args.qemu or args.caps_del) else args.variant_rate,
                         junit_xml=args.junit_xml, shard=args.shard, oracle_pairs=_oracle_pairs(args),
                         max_batches=args.max_batches)
    _, status = run_campaign(cfg)
    return status
