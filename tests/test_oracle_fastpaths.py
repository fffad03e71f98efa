"""The oracle's fast paths must answer exactly what the slow, literal paths answer.

No libvirt needed: each test runs the oracle twice on the same inputs -- once through a shortcut
(model-level copy instead of format + re-parse) and once through the literal libvirt sequence --
and requires byte-identical results.  The golden replay (test_oracle_unit.py) checks the oracle
against libvirt; these tests keep the shortcuts honest on many more generated domains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import oracle
from fuzz.generate import draw_batch
from oracle.errors import LibvirtError, OracleInputError
from oracle.fmt import format_domain
from oracle.migratable import make_migratable, migratable_xml
from oracle.pipeline import parse_and_define, reparse
from oracle.profile import get_profile
from virtfuzz.backends import open_backend

GOLDEN = Path(__file__).resolve().parent.parent / "corpus" / "cases" / "oracle-golden"


def _outcome(fn, *args) -> str:
    try:
        return fn(*args)
    except LibvirtError as e:
        return f"error: {e}"
    except OracleInputError as e:
        return f"unsupported: {e}"


def _literal_migratable(dom, caps, prof) -> str:
    """XMLDesc(MIGRATABLE) the literal way: format, re-parse (virDomainDefCopy), removals, format."""
    d = reparse(format_domain(dom, migratable=True), caps, prof)
    return format_domain(make_migratable(d), migratable=True)


def _domains() -> list[tuple[str, object]]:
    """(xml, capset) of generated domains (with capability variants) and golden define inputs."""
    backend = open_backend("oracle")
    out = []
    for seed in (11, 12, 13):
        for c in draw_batch(300, seed, 0.3):
            caps = backend.caps(c.xml)
            if caps is not None:
                out.append((c.xml, caps))
    for p in sorted(GOLDEN.glob("*.json")):
        ctx = json.loads(p.read_text())
        if ctx["op"] in ("define", "abi", "attach"):
            caps = oracle.capset_for(ctx["arch"], ctx["qemu"], caps_del=ctx.get("caps_del", ()))
            out.append((p.with_suffix(".xml").read_text(), caps))
    return out


@pytest.fixture(scope="module")
def defined():
    prof = get_profile()
    out = []
    for x, caps in _domains():
        try:
            out.append((x, parse_and_define(x, caps, prof, True), caps))
        except (LibvirtError, OracleInputError):
            continue
    assert len(out) > 300
    return out


def test_migratable_shortcut_matches_reparse(defined) -> None:
    """migratable_xml copies the model instead of re-parsing unless the re-parse can fail; the
    re-parse must never have answered differently (including hub-relative USB ports, whose
    address pass is redone on the copy)."""
    prof = get_profile()
    for x, dom, caps in defined:
        fast = _outcome(migratable_xml, dom, caps, prof)
        assert fast == _outcome(_literal_migratable, dom, caps, prof), x


def test_define_does_not_touch_its_input_domain(defined) -> None:
    """Formatting and the migratable XML only read the definition (shared results rely on it)."""
    prof = get_profile()
    for _x, dom, caps in defined[:200]:
        before = format_domain(dom)
        _outcome(migratable_xml, dom, caps, prof)
        assert format_domain(dom) == before
