"""The regression corpus replayed on the real libvirt: every recorded expectation still holds.

corpus/cases/*/NAME.json gives the operation and context; NAME.xml is the input;
NAME.expected.xml / NAME.expected.mig.xml / NAME.expected.err are what libvirt produced when the
case was recorded (scripts/record-golden.py). A case with deleted capability flags names the stock
``/usr/bin/qemu-system-ARCH``; its ``qemu``/``caps_del`` context selects the fake-QEMU variant,
created in this machine's data directory when the case is replayed. On the libvirt build the
corpus was recorded with this guards the recordings; on another build (or after a libvirt update)
it shows exactly which behaviours changed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import portable

pytestmark = pytest.mark.libvirt
CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "cases"


def _cases(op: str) -> dict[tuple[str | None, tuple[str, ...]], list[Path]]:
    groups: dict[tuple[str | None, tuple[str, ...]], list[Path]] = defaultdict(list)
    for f in sorted(CORPUS.glob("*/*.json")):
        ctx = json.loads(f.read_text())
        if ctx.get("op") == op:
            qemu = None if ctx.get("qemu") in (None, "7.2.0") else ctx["qemu"]
            groups[(qemu, tuple(ctx.get("caps_del", [])))].append(f.with_suffix(""))
    return groups


def _read(base: Path, suffix: str) -> str | None:
    p = Path(f"{base}{suffix}")
    return p.read_text() if p.exists() else None


def _stock(xml: str | None) -> str | None:
    """The output with a fake-QEMU variant's path (which depends on the data directory) shown as
    the stock binary, as the corpus stores it; the case's context names the variant."""
    return None if xml is None else portable(xml)[0]


def _mismatches(bases: list[Path], results, migratable: bool) -> list[str]:
    bad = []
    for base, r in zip(bases, results, strict=True):
        exp_xml, exp_err = _read(base, ".expected.xml"), _read(base, ".expected.err")
        if exp_err is not None:
            if r.kind != "error" or r.error != exp_err.strip():
                bad.append(f"{base.name}: expected error {exp_err.strip()!r}, got {r.kind} {r.error!r}")
        elif r.kind != "ok" or _stock(r.xml) != exp_xml:
            bad.append(f"{base.name}: stored XML differs ({r.kind}: {r.error})")
        elif migratable and _stock(r.migratable) != _read(base, ".expected.mig.xml"):
            bad.append(f"{base.name}: migratable XML differs")
    return bad


def _replay(op: str, migratable: bool) -> list[str]:
    groups = _cases(op)
    assert groups, f"no {op} cases in corpus/cases"
    bad = []
    for (qemu, caps_del), bases in groups.items():
        b = open_backend("libvirt", qemu=qemu, caps_del=caps_del)
        try:
            run = b.define_many if op == "define" else b.load_many
            bad += _mismatches(bases, run([Path(f"{x}.xml").read_text() for x in bases]), migratable)
        finally:
            b.close()
    return bad


@pytest.mark.parametrize("op", ["define", "load"])
def test_cases_reproduce(op):
    bad = _replay(op, migratable=op == "define")
    assert not bad, f"{len(bad)} corpus {op} cases no longer reproduce:\n" + "\n".join(bad[:30])
