"""Every triaged finding in corpus/known-findings still reproduces on the installed libvirt.

When one stops reproducing, libvirt (or the oracle) changed: re-triage it (and drop it from the
known list if it was fixed), so the campaign reports it again should it come back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.findings import KNOWN_DIR, known_signatures
from virtfuzz.cli import main

CASES = sorted(p for p in KNOWN_DIR.iterdir() if (p / "finding.json").is_file()) if KNOWN_DIR.is_dir() else []


def test_known_findings_are_triaged():
    recs = known_signatures()
    assert recs, "corpus/known-findings is empty"
    for sig, rec in recs.items():
        assert rec["status"] in ("libvirt-bug", "libvirt-quirk", "oracle-gap"), sig
        assert "src/" in rec["triage"], f"{sig}: triage must cite libvirt's source"


@pytest.mark.libvirt
@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_known_finding_reproduces(case: Path, capsys, libvirt_backend):
    status = main(["replay", str(case)])
    out = capsys.readouterr().out
    assert status == 1 and f"REPRODUCED: {case.name}" in out, out
