"""Campaign outputs: ``summary.json`` for scripts and ``report.md`` for people, both atomic."""

from __future__ import annotations

import json
from pathlib import Path

from virtfuzz.atomic import write_text


def write_summary(out: Path, summary: dict) -> None:
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")


def write_report(out: Path, summary: dict, records: list[dict]) -> None:
    lines = ["# virtfuzz campaign report", "",
             f"- cases: {summary['cases']} in {summary['seconds']:.0f} s "
             f"({summary['cases'] / max(summary['seconds'], 1e-9):.0f}/s), jobs {summary.get('jobs', 1)}",
             f"- backends: {', '.join(summary.get('backends', []))}; context: {summary.get('context')}",
             f"- findings: {len(summary['findings'])} ({summary.get('new_findings', 0)} not already known)", ""]
    for rec in records:
        lines += [f"## {rec['signature']}", "",
                  f"- invariant: `{rec['invariant']}`; broken by: **{rec['party']}**"
                  + (f" ({rec.get('known_how') or 'known'}: {rec.get('known_as')})" if rec.get("known") else ""),
                  f"- message: {rec['message']}"]
        if rec.get("xpath"):
            lines += [f"- first difference: `{rec['xpath']}` — left `{rec.get('left')}`, right `{rec.get('right')}`"]
        lines += [f"- reproduce: `{rec.get('reproduce')}`", "", "```xml", rec.get("input", "").strip(), "```", ""]
        if rec.get("steps"):
            lines += [f"then the steps: {' → '.join(rec['steps'])} (see `steps.json`)", ""]
        if rec.get("device"):
            lines += ["then config-attach:", "", "```xml", rec["device"].strip(), "```", ""]
    write_text(out / "report.md", "\n".join(lines) + "\n")
