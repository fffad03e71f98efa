"""Re-run a finding from its directory (``OUT/findings/<signature>``) with its recorded context.

Exit 1 when the same signature reproduces, 0 when it no longer does (fixed, or flaky: the output
says which failures, if any, were seen instead).

The finding's recorded context (backends, libvirt, QEMU, deleted flags) is used unless an option
overrides it: ``--libvirt 12.9.0`` replays a 9.0.0 finding on another build, ``--backend libvirt``
replays it on one party only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from virtfuzz.inputs import InputError

HELP = "re-run a finding's reproducer"
DEFAULT_BACKEND = "both"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="a findings/<signature> directory")


def run(args: argparse.Namespace) -> int:
    from fuzz.campaign import CampaignConfig, Job
    from fuzz.findings import load_finding
    from fuzz.live import check_live
    from fuzz.observe import Case
    from fuzz.sequence import replay_steps

    path = Path(args.path)
    if not (path / "finding.json").is_file():
        raise InputError(f"{path}: not a finding directory (no finding.json)")
    rec, xml, device, steps = load_finding(path)
    ctx = rec.get("context", {})
    backends = tuple(ctx.get("backends") or ("oracle", "libvirt"))
    if args.backend != DEFAULT_BACKEND:
        backends = (args.backend,)
    # a live migration to another build (invariant 6, tier live-migration) needs that build open
    pair_to = str(ctx.get("target", "")).rpartition("->libvirt:")[2] if ctx.get("tier") == "live-migration" else ""
    # invariant 6 between two oracle profiles (a campaign over several oracle targets: fuzz.era_pairs)
    era_pair = str(ctx.get("target", "")) if ctx.get("tier") == "cross-build" and \
        str(ctx.get("target", "")).startswith("oracle:") and "->oracle:" in str(ctx.get("target", "")) else ""
    if era_pair:
        from fuzz.era_pairs import check_one

        src, _, dst = era_pair.partition("->")
        return _report(rec, check_one(src.removeprefix("oracle:"), dst.removeprefix("oracle:"), xml))
    cfg = CampaignConfig(backends=backends, libvirt_version=args.libvirt or ctx.get("libvirt"),
                         qemu=args.qemu or ctx.get("qemu"),
                         caps_del=tuple(args.caps_del or ctx.get("caps_del") or ()),
                         builds=(pair_to,) if pair_to else ())
    job = Job(cfg, 0)
    try:
        if ctx.get("tier") == "live":
            dst_file = path / "destination.xml"
            dst = dst_file.read_text() if dst_file.exists() else None
            result = job.backends["libvirt"].live(xml, ctx.get("live_devices") or [], dst)
            failures = check_live(result, "as recorded" if dst is None else "recorded destination")
        elif pair_to:
            checked = job.live_migration_check(xml, pair_to)
            failures = checked[0] if checked is not None else []
        elif ctx.get("tier") == "order":  # invariant 8: the recorded permutation of the stored XML
            from fuzz.order_invariance import check_permutations

            lv = job.backends["libvirt"]
            (d,) = lv.define_many([xml])
            perm = (path / "permuted.xml").read_text()
            failures = [f for _, f, _ in check_permutations(lv, "libvirt", [d.xml or xml], [d.migratable or ""],
                                                            [(0, perm)])] if d.kind == "ok" else []
        elif steps is not None:
            failures = replay_steps(job.backends, steps)
        else:
            failures = job.check_through_step(Case(xml=xml, device=device, op=ctx.get("step") or "attach",
                                                   after=ctx.get("after")))
    finally:
        job.close()
    return _report(rec, failures)


def _report(rec: dict, failures: list) -> int:
    from fuzz.signature import signature

    reproduced = False
    for f in failures:
        sig = signature(f)
        mark = "REPRODUCED" if sig == rec["signature"] else "other"
        reproduced |= sig == rec["signature"]
        print(f"{mark}: {sig}: [{f.party}] {f.message}")
    if not reproduced:
        print(f"not reproduced: {rec['signature']}")
    return 1 if reproduced else 0
