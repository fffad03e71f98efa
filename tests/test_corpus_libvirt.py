"""The regression corpus replayed on the real libvirt: every recorded expectation still holds.

corpus/cases/*/NAME.json gives the operation (define, load, abi, attach, detach) and context;
NAME.xml is the input (abi: the source; NAME.dst.xml the destination; attach/detach: NAME.dev.xml
the device); NAME.expected.xml / NAME.expected.mig.xml / NAME.expected.mig.err /
NAME.expected.err are what libvirt answered when the case was recorded, by libvirt-python alone
(scripts/recorder.py, nothing of virtfuzz: see the context's ``recorded_with``). Here each op is
replayed through virtfuzz's real backend, so a backend that stops doing what libvirt does fails.
A case with deleted capability flags names the stock ``/usr/bin/qemu-system-ARCH``; its
``qemu``/``caps_del`` context selects the fake-QEMU variant, created when the case is replayed.
On another libvirt build (or after a libvirt update) this shows exactly which behaviours changed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import portable
from virtfuzz.results import AbiResult, DefineResult, XmlResult

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


def _expect_error(base: Path, r, bad: list[str]) -> bool:
    """True when the case expects an error (checked here)."""
    exp_err = _read(base, ".expected.err")
    if exp_err is None:
        return False
    if r.kind != "error" or r.error != exp_err.strip():
        bad.append(f"{base.name}: expected error {exp_err.strip()!r}, got {r.kind} {r.error!r}")
    return True


def _mismatches(op: str, bases: list[Path], results) -> list[str]:
    bad: list[str] = []
    for base, r in zip(bases, results, strict=True):
        if _expect_error(base, r, bad):
            continue
        if op == "abi":
            if r.kind != "ok":
                bad.append(f"{base.name}: expected ABI-compatible, got {r.kind} {r.error!r}")
            continue
        if r.kind != "ok" or _stock(r.xml) != _read(base, ".expected.xml"):
            bad.append(f"{base.name}: stored XML differs ({r.kind}: {r.error})")
        elif op == "define":
            exp_mig_err = _read(base, ".expected.mig.err")
            if exp_mig_err is not None:
                if r.migratable is not None or r.migratable_error != exp_mig_err.strip():
                    bad.append(f"{base.name}: expected migratable error {exp_mig_err.strip()!r}, "
                               f"got {r.migratable_error!r}")
            elif _stock(r.migratable) != _read(base, ".expected.mig.xml"):
                bad.append(f"{base.name}: migratable XML differs ({r.migratable_error})")
    return bad


def _run(b, op: str, bases: list[Path]) -> list:
    xmls = [Path(f"{x}.xml").read_text() for x in bases]
    if op == "define":
        return b.define_many(xmls)
    if op == "load":
        return b.load_many(xmls)
    if op == "abi":  # the source as given (the backend defines it and saves its migratable XML)
        return [b.abi(x, _read(base, ".dst.xml") or x) for base, x in zip(bases, xmls, strict=True)]
    items = [(x, Path(f"{base}.dev.xml").read_text()) for base, x in zip(bases, xmls, strict=True)]
    return b.attach_many(items) if op == "attach" else b.detach_many(items)


def _replay(op: str) -> tuple[int, list[str]]:
    groups = _cases(op)
    assert groups, f"no {op} cases in corpus/cases"
    bad = []
    for (qemu, caps_del), bases in groups.items():
        b = open_backend("libvirt", qemu=qemu, caps_del=caps_del)
        try:
            bad += _mismatches(op, bases, _run(b, op, bases))
        finally:
            b.close()
    return sum(map(len, groups.values())), bad


# how many cases of each op the corpus holds: a case that silently disappears fails too
COUNTS = {"define": 3717, "load": 460, "abi": 1054, "attach": 610, "detach": 255}


@pytest.mark.parametrize("op", list(COUNTS))
def test_cases_reproduce(op):
    n, bad = _replay(op)
    assert not bad, f"{len(bad)} of {n} corpus {op} cases no longer reproduce:\n" + "\n".join(bad[:30])
    assert n == COUNTS[op]


def test_every_case_is_recorded_independently():
    """Every expectation came from libvirt-python alone (scripts/recorder.py), or, for the define
    cases recorded before it existed, from scripts/record-golden.py's own in-process libvirt calls;
    none from virtfuzz's backend or CLI."""
    by: dict[str, int] = defaultdict(int)
    for f in CORPUS.glob("*/*.json"):
        ctx = json.loads(f.read_text())
        src = ctx.get("recorded_with", "")
        ok = "scripts/recorder.py" in src or (ctx["op"] == "define" and src == "libvirt 9.0.0 / QEMU 7.2")
        by[f"{ctx['op']}: {src}" if not ok else "ok"] += 1
    assert set(by) == {"ok"}, dict(by)


def _as_recorded(op: str, base: Path):
    """The result a backend gives when it does exactly what the recording says."""
    err, xml = _read(base, ".expected.err"), _read(base, ".expected.xml")
    if err is not None:
        cls = AbiResult if op == "abi" else DefineResult if op == "define" else XmlResult
        return cls(kind="error", error=err.strip())
    if op == "abi":
        return AbiResult(kind="ok")
    if op == "define":
        mig_err = _read(base, ".expected.mig.err")
        return DefineResult(kind="ok", xml=xml, migratable=_read(base, ".expected.mig.xml"),
                            migratable_error=mig_err.strip() if mig_err else None)
    return XmlResult(kind="ok", xml=xml)


@pytest.mark.parametrize(("op", "name"), [
    ("define", "rand-0124"), ("define", "capsdel-00-x86_64-qemu-xhci"), ("load", "holdload-0004"),
    ("load", "load-x86_64-pc-tablet"), ("abi", "abi-x86_64-pc-usb-model"), ("abi", "abi-x86_64-pc-same"),
    ("attach", "attach-x86_64-pc-tablet"), ("detach", "detach-x86_64-pc-tablet-missing")])
def test_a_wrong_expectation_is_caught(op, name):
    """The comparison fails on any changed expectation: the recorded answer passes, and a result
    that differs in its kind, XML, migratable XML/error or message does not."""
    base = CORPUS / "oracle-golden" / name
    assert json.loads(Path(f"{base}.json").read_text())["op"] == op
    right = _as_recorded(op, base)
    assert _mismatches(op, [base], [right]) == []
    wrong = []
    if right.kind == "error":
        wrong += [replace(right, error=right.error + "!"), replace(right, kind="ok", error=None)]
    elif op == "abi":
        wrong.append(replace(right, kind="error", error="unsupported configuration: x"))
    else:
        wrong += [replace(right, xml=right.xml.replace("</devices>", "<hub type='usb'/></devices>")),
                  replace(right, kind="error", xml=None, error="x")]
        if op == "define":
            wrong.append(replace(right, migratable=None, migratable_error="y") if right.migratable_error is None
                         else replace(right, migratable="<domain/>", migratable_error=None))
    for w in wrong:
        assert len(_mismatches(op, [base], [w])) == 1, w
