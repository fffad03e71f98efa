"""Every triaged finding in corpus/known-findings still reproduces on the installed libvirt.

When one stops reproducing, libvirt (or the oracle) changed: re-triage it (and drop it from the
known list if it was fixed), so the campaign reports it again should it come back.
"""

from __future__ import annotations

import json
import re
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
def test_known_finding_reproduces(case: Path, capsys, libvirt_backend, private_data_dir_with_caches):
    # the finding's capability variant is created, and probed, in a private data directory
    status = main(["replay", str(case)])
    out = capsys.readouterr().out
    if f"REPRODUCED: {case.name}" not in out and _live(case):
        # a live migration runs real QEMUs of two builds: on a loaded machine one attempt can end
        # before the failure shows (a start timeout is an outcome, not this finding). A fixed
        # bug fails both attempts, so one more does not hide a change.
        status = main(["replay", str(case)])
        out += capsys.readouterr().out
    assert status == 1 and f"REPRODUCED: {case.name}" in out, out


def _live(case: Path) -> bool:
    return json.loads((case / "finding.json").read_text()).get("context", {}).get("tier") == "live-migration"


def test_known_findings_and_corpus_cases_name_no_machine_paths():
    """A finding or corpus case names the stock QEMU binary; which capability variant it ran on is
    data (``qemu``/``caps_del`` in its context), re-created wherever it is replayed. A fake-QEMU
    path (``<data dir>/variants/...``) would tie it to one machine's data directory and contradict
    its context."""
    repo = KNOWN_DIR.parent
    bad = []
    for f in [*KNOWN_DIR.rglob("*.xml"), *KNOWN_DIR.rglob("*.json"), *(repo / "cases").rglob("*.xml")]:
        for emulator in re.findall(r"<emulator>\s*([^<]*?)\s*</emulator>", f.read_text()):
            if not re.fullmatch(r"/usr/bin/qemu-system-[a-z0-9_]+", emulator):
                bad.append(f"{f.relative_to(repo)}: {emulator}")
    assert not bad, "\n".join(bad[:20])


def test_holds_for_is_recorded_from_campaign_summaries(tmp_path: Path):
    """``scripts/findings-by-build.py --record``: a known finding gains the targets a campaign saw
    it on (party read with the campaign's own build as the bare kind), merged with what it had;
    new findings and unknown directories are left alone."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fbb", KNOWN_DIR.parent.parent / "scripts" / "findings-by-build.py")
    fbb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fbb)
    (tmp_path / "2-x-libvirt-1").mkdir()
    (tmp_path / "2-x-libvirt-1" / "finding.json").write_text(json.dumps({"signature": "2-x-libvirt-1",
                                                                          "holds_for": ["libvirt:11.3.0"]}))
    summary = {"cases": 10, "builds": ["7.0.0", "11.3.0"], "context": {"libvirt": None},
               "cases_by_target": {"libvirt:9.0.0": 5, "libvirt:7.0.0": 3, "libvirt:11.3.0": 2},
               "findings": [
                   {"signature": "2-x-libvirt-1", "party": "libvirt", "known": True, "known_as": "2-x-libvirt-1"},
                   {"signature": "2-x-libvirt:7.0.0-2", "party": "libvirt:7.0.0", "known": True,
                    "known_as": "2-x-libvirt-1", "targets": ["libvirt:7.0.0"]},
                   {"signature": "6-y", "party": "libvirt:9.0.0->libvirt:7.0.0", "known": False}]}
    by, _, new = fbb.holds_for([summary])
    assert fbb.record(by, new, known=tmp_path) == ["2-x-libvirt-1"]
    rec = json.loads((tmp_path / "2-x-libvirt-1" / "finding.json").read_text())
    assert rec["holds_for"] == ["libvirt:11.3.0", "libvirt:7.0.0", "libvirt:9.0.0"]
    assert by["6-y"] == {"libvirt:9.0.0 -> libvirt:7.0.0"} and "6-y" in new
    assert fbb.record(by, new, known=tmp_path) == []  # nothing more to add
