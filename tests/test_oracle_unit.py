"""Pure oracle tests (no libvirt): every expected output was recorded from the real libvirt
9.0.0 / QEMU 7.2 by scripts/record-golden.py into corpus/cases/oracle-golden/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import oracle
from oracle import OracleInputError, OracleUnsupported

GOLDEN = Path(__file__).resolve().parent.parent / "corpus" / "cases" / "oracle-golden"


def _cases() -> list[str]:
    return sorted(p.name[: -len(".json")] for p in GOLDEN.glob("*.json"))


def run_case(name: str) -> tuple[str, dict, dict]:
    """Run one golden case through the oracle; returns (status, expected, got)."""
    ctx = json.loads((GOLDEN / f"{name}.json").read_text())
    caps = oracle.capset_for(ctx["arch"], ctx["qemu"], caps_del=ctx.get("caps_del", ()))
    xml = (GOLDEN / f"{name}.xml").read_text()
    exp: dict = {}
    for key, suffix in (("xml", ".expected.xml"), ("mig", ".expected.mig.xml"), ("err", ".expected.err"),
                        ("migerr", ".expected.mig.err")):
        p = GOLDEN / f"{name}{suffix}"
        if p.exists():
            exp[key] = p.read_text()
    for k in ("err", "migerr"):
        if k in exp:
            exp[k] = exp[k].rstrip("\n")
    got: dict = {}
    op = ctx["op"]
    if op == "define":
        r = oracle.define(xml, caps, profile=ctx.get("profile", "9.0.0"))
        if r.kind == "ok":
            got = {"xml": r.xml, "mig": r.migratable} if r.migratable_error is None else \
                {"xml": r.xml, "migerr": r.migratable_error}
        else:
            got = {"err": r.error}
    elif op == "load":
        r = oracle.load(xml, caps)
        if ctx.get("load_failed"):
            got = {"err": "(config not loaded)"} if r.kind == "error" else {"xml": r.xml}
        else:
            got = {"xml": r.xml} if r.kind == "ok" else {"err": r.error}
    elif op in ("attach", "detach"):
        dev = (GOLDEN / f"{name}.dev.xml").read_text()
        fn = oracle.attach if op == "attach" else oracle.detach
        r = fn(xml, dev, caps)
        got = {"xml": r.xml} if r.kind == "ok" else {"err": r.error}
    elif op == "abi":
        dstp = GOLDEN / f"{name}.dst.xml"
        dst = dstp.read_text() if dstp.exists() else xml  # no dst when the source fails to define
        r = oracle.abi(xml, dst, caps)
        got = {} if r.kind == "ok" else {"err": r.error}
    return ("same" if got == exp else "diff"), exp, got


@pytest.mark.parametrize("name", _cases())
def test_golden(name: str) -> None:
    try:
        status, exp, got = run_case(name)
    except OracleUnsupported as e:
        pytest.skip(f"outside the modelled vocabulary: {e}")
    except OracleInputError as e:
        if "malformed XML" not in str(e):
            raise
        pytest.skip("malformed XML: libvirt's libxml2 error text is not modelled")
    for key in ("err", "xml", "mig", "migerr"):
        assert got.get(key) == exp.get(key), key


def test_capset_for_errors() -> None:
    with pytest.raises(OracleInputError, match="unknown arch"):
        oracle.capset_for("vax")
    with pytest.raises(OracleInputError, match="known:"):
        oracle.capset_for("x86_64", "1.0.0")
    with pytest.raises(OracleInputError, match="caps_del"):
        oracle.capset_for("x86_64", caps_del=["no-such-flag"])


def test_capset_flags_and_machines() -> None:
    cs = oracle.capset_for("x86_64")
    assert "qemu-xhci" in cs.flags
    assert cs.canonical_machine("q35") == "pc-q35-7.2"
    assert "qemu-xhci" not in cs.without({"qemu-xhci"}).flags
    assert oracle.capset_for("x86_64", "6.2.0").canonical_machine("pc") == "pc-i440fx-6.2"


def test_malformed_xml_is_input_error() -> None:
    with pytest.raises(OracleInputError):
        oracle.define("<domain", oracle.capset_for("x86_64"))
