"""The oracle's fast paths must answer exactly what the slow, literal paths answer.

No libvirt needed: each test runs the oracle twice on the same inputs -- once through a shortcut
(model-level copy instead of format + re-parse) and once through the literal libvirt sequence --
and requires byte-identical results.  The golden replay (test_oracle_unit.py) checks the oracle
against libvirt; these tests keep the shortcuts honest on many more generated domains.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import oracle
from fuzz.generate import draw_batch
from oracle.errors import LibvirtError, OracleInputError
from oracle.fmt import format_domain
from oracle.migratable import make_migratable, migratable_xml
from oracle.pipeline import parse_and_define, reparse
from oracle.profile import get_profile
from tests.conftest import private_data_dir_at
from virtfuzz import corpus
from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import render_variants


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
        for c in render_variants(draw_batch(300, seed, 0.3)):
            caps = backend.caps(c.xml)
            if caps is not None:
                out.append((c.xml, caps))
    for case in corpus.cases():
        if case.op in ("define", "abi", "attach") and case.has("9.0.0"):
            caps = oracle.capset_for(case.arch, case.qemu_for("9.0.0"), caps_del=case.caps_del)
            out.append((case.input.read_text(), caps))
    return out


@pytest.fixture(scope="module")
def defined(tmp_path_factory):
    prof = get_profile()
    out = []
    with private_data_dir_at(tmp_path_factory.mktemp("data")):  # the variants drawn go there
        domains = _domains()
    for x, caps in domains:
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


def _all_operations(backend, cases) -> list:
    """Every backend operation the campaign uses, on each case's outputs, as plain dicts."""
    from fuzz.abi_mutations import mutate_destination

    out = []
    defined_ = backend.define_many([c.xml for c in cases])
    out += [r.to_dict() for r in defined_]
    ok = [(c, r) for c, r in zip(cases, defined_, strict=True) if r.kind == "ok"]
    out += [r.to_dict() for r in backend.define_many([r.xml for _c, r in ok])]
    migs = [r.migratable for _c, r in ok if r.migratable]
    out += [r.to_dict() for r in backend.load_many([r.xml for _c, r in ok] + migs)]
    out += [r.to_dict() for r in backend.abi_many([(m, m) for m in migs])]
    pairs = [(m, mutate_destination(m)) for m in migs]
    out += [r.to_dict() for r in backend.abi_many([(m, d[1]) for m, d in pairs if d])]
    plugged = backend.attach_many([(r.xml, c.device) for c, r in ok if c.device])
    out += [r.to_dict() for r in plugged]
    out += [r.to_dict() for r in backend.define_many([p.xml for p in plugged if p.kind == "ok"])]
    return out


def test_memo_session_answers_like_fresh_calls(private_data_dir) -> None:
    """Batches (memo session) give what single calls (no memo) give, cold and warm."""
    from oracle import memo

    class Single:  # the backend's single-call methods: no session, nothing memoised
        def __init__(self, b):
            self.b = b

        def define_many(self, xs):
            return [self.b.define(x) for x in xs]

        def load_many(self, xs):
            return [self.b.load(x) for x in xs]

        def abi_many(self, ps):
            return [self.b.abi(s, d) for s, d in ps]

        def attach_many(self, items):
            return [self.b.attach(d, x) for d, x in items]

    backend = open_backend("oracle")
    cases = render_variants(draw_batch(120, 21, 0.3))
    memo.clear()
    fresh = _all_operations(Single(backend), cases)
    assert not any(len(t) for t in memo.TABLES)
    assert _all_operations(backend, cases) == fresh
    assert any(len(t) for t in memo.TABLES)
    assert _all_operations(backend, cases) == fresh  # warm: answered from the tables


def test_memo_entries_stay_unmodified(private_data_dir) -> None:
    """Shared definitions and parses are never modified by the operations that read them."""
    import dataclasses

    from oracle import memo

    def shared() -> dict:
        out = {}
        for i, t in enumerate(memo.TABLES):
            for k, v in t._d.items():
                dom = getattr(v, "dom", v)
                if dataclasses.is_dataclass(dom):
                    out[i, k] = repr(dataclasses.asdict(dom))
        return out

    backend = open_backend("oracle")
    cases = render_variants(draw_batch(80, 22, 0.3))
    memo.clear()
    _all_operations(backend, cases)
    before = shared()
    assert len(before) > 100
    _all_operations(backend, cases)  # warm: every operation reads the shared objects again
    after = shared()
    assert {k: after[k] for k in before} == before
    # the kept parses (oracle.pipeline._parse) are exactly what parsing their XML gives
    from oracle.model import parse_domain
    from oracle.pipeline import _OWN_XML

    prof = get_profile("9.0.0")
    kept = [(k[0], v) for k, v in _OWN_XML._d.items() if dataclasses.is_dataclass(v)]
    assert len(kept) > 50
    for xml, dom in kept:
        assert dataclasses.asdict(dom) == dataclasses.asdict(parse_domain(xml, prof.data)), xml


def test_mutants_turn_the_memo_off() -> None:
    """Every rule change bench/mutants.py makes is noticed: memo tables go unused."""
    import sys

    from oracle import memo
    from oracle.profile import DEFAULT_PROFILE

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        from mutants import MUTANTS
    finally:
        sys.path.pop(0)
    prof = get_profile(DEFAULT_PROFILE)
    with oracle.session():
        assert memo.usable(prof)
    for name, make in MUTANTS.items():
        with make(), oracle.session():
            assert not memo.usable(prof), name
    with oracle.session():
        assert memo.usable(prof)
