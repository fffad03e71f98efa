"""Merge campaign outputs (``virtfuzz fuzz --shard K/N`` runners of a CI matrix) into one.

``virtfuzz merge --out DIR OUT1 OUT2 ...``: findings de-duplicated by signature (the first output's
directory is kept; occurrence counts added, first/last seen the earliest/latest), the summaries'
counts added (cases, domains, jobs, oracle_cpu_seconds, cases_by_tier, cases_by_target, migration_outcomes,
oracle_unsupported, job_seconds_by_tier), rules covered united, ``seconds`` the longest shard's
wall time. Writes ``DIR/summary.json``, ``DIR/report.md`` and ``DIR/findings/``. Exit status as
``virtfuzz fuzz``: 1 when a merged finding is new, 2 when a shard's campaign failed or was
interrupted, else 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path

from virtfuzz.inputs import InputError

HELP = "merge the outputs of several campaigns (shards) into one"
BACKEND_OPTIONS = ()
ADDED = ("cases_by_tier", "cases_by_target", "migration_outcomes", "oracle_unsupported", "job_seconds_by_tier")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("outputs", nargs="+", metavar="OUT", help="campaign output directories (with summary.json)")


def merge(outputs: list[Path], out: Path) -> dict:
    from fuzz.report import write_report, write_summary

    summaries = []
    for o in outputs:
        f = o / "summary.json"
        if not f.is_file():
            raise InputError(f"{o}: not a campaign output (no summary.json)")
        summaries.append(json.loads(f.read_text()))
    findings: dict[str, dict] = {}
    records: dict[str, dict] = {}
    for o, s in zip(outputs, summaries, strict=True):
        for f in s.get("findings", []):
            sig = f["signature"]
            if sig not in findings:
                findings[sig] = dict(f)
                src = o / "findings" / sig
                rec_file = src / "finding.json"
                records[sig] = json.loads(rec_file.read_text()) if rec_file.is_file() else dict(f)
                if src.is_dir():
                    dst = out / "findings" / sig
                    if dst.exists():
                        shutil.rmtree(dst)
                    shutil.copytree(src, dst)
                    findings[sig]["path"] = str(dst)
                continue
            m = findings[sig]
            m["count"] = m.get("count", 0) + f.get("count", 0)
            for k, pick in (("first_seen", min), ("last_seen", max)):
                if k in f:
                    m[k] = pick(m[k], f[k]) if k in m else f[k]
            m["known"] = bool(m.get("known")) or bool(f.get("known"))
    merged: dict = {
        "cases": sum(s.get("cases", 0) for s in summaries),
        "domains": sum(s.get("domains", 0) for s in summaries),
        "oracle_cpu_seconds": round(sum(s.get("oracle_cpu_seconds", 0.0) for s in summaries), 2),
        "seconds": max((s.get("seconds", 0) for s in summaries), default=0),
        "seconds_total": round(sum(s.get("seconds", 0) for s in summaries), 2),
        "jobs": sum(s.get("jobs", 0) for s in summaries),
        "seed": summaries[0].get("seed"), "backends": summaries[0].get("backends", []),
        "context": summaries[0].get("context"),
        "findings": sorted(findings.values(), key=lambda f: f["signature"]),
        "new_findings": sum(1 for f in findings.values() if not f.get("known")),
        "rules_covered": sorted({r for s in summaries for r in s.get("rules_covered", [])}),
        "batch_errors": [e for s in summaries for e in s.get("batch_errors", [])][:20],
        "builds": sorted({b for s in summaries for b in s.get("builds", [])}),
        "interrupted": any(s.get("interrupted") for s in summaries),
        "merged_from": [{"path": str(o), "shard": s.get("shard"), "seed": s.get("seed"), "cases": s.get("cases")}
                        for o, s in zip(outputs, summaries, strict=True)],
    }
    for key in ADDED:
        total: Counter = Counter()
        for s in summaries:
            total.update(s.get(key) or {})
        merged[key] = {k: round(v, 1) if isinstance(v, float) else v for k, v in sorted(total.items())}
    out.mkdir(parents=True, exist_ok=True)
    write_summary(out, merged)
    write_report(out, merged, [records[f["signature"]] for f in merged["findings"]])
    return merged


def run(args: argparse.Namespace) -> int:
    merged = merge([Path(o) for o in args.outputs], Path(args.out))
    print(f"merged {len(args.outputs)} campaigns: {merged['cases']} cases, {len(merged['findings'])} findings "
          f"({merged['new_findings']} new): {Path(args.out) / 'summary.json'}")
    if merged["batch_errors"] or merged["interrupted"]:
        return 2
    return 1 if merged["new_findings"] else 0
