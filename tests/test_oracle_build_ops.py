"""The oracle's per-build profiles on load, ABI check, attach and detach, against each real build.

A sample of the corpus's load/abi/attach/detach cases (every ``load-``/``abi-``/``attach-``/``detach-``
case and a few held-out ones per arch) carries each build's answers beside 9.0.0's,
``NAME.<arch>-<V>.expected.xml|.expected.err`` (read through virtfuzz.corpus), recorded by
``scripts/record-profile-golden.py --ops`` (``scripts/recorder.py`` run with the build's own python3 and
libvirt inside its root), never by the oracle.  No libvirt is needed to run these tests.

Every case where profile V still differs from build V is pinned in ``KNOWN_DIFFERENCES`` with its
reason; the test fails when a difference appears or disappears.
"""

from __future__ import annotations

from collections import Counter

import pytest

import oracle
from oracle import OracleInputError, OracleUnsupported
from virtfuzz import corpus

BUILDS = ["7.0.0", "9.0.0", "11.3.0", "12.9.0"]
ARCHES = ["x86_64", "i686", "aarch64", "armv7l", "ppc64", "s390x", "riscv64"]

# (build, case) -> why profile `build` answers differently from the real build
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    **{(v, "rabi-0063"): "declined: malformed XML (a duplicated attribute): the oracle does not model libxml2's "
       "error text (tests/oracle_declined.txt lists the 9.0.0 case)" for v in BUILDS},
}


# the operation cases every build answered
CASES = {c.name: c for c in corpus.cases() if c.op != "define" and all(c.has(v) for v in BUILDS)}
CONTEXTS = {name: c.context for name, c in CASES.items()}


def expected(name: str, version: str) -> dict:
    exp = {}
    for key, text in CASES[name].read_expected(version).items():
        exp[key] = text.rstrip("\n") if key == "err" else text
    return exp


def answer(name: str, version: str) -> dict:
    """What profile ``version`` of the oracle answers for the case, in the recorder's terms."""
    case = CASES[name]
    caps = oracle.capset_for(case.arch, profile=version)
    xml = case.input.read_text()
    op = case.op
    if op == "load":
        r = oracle.load(xml, caps, profile=version)
        return {"xml": r.xml} if r.kind == "ok" else {"err": r.error}
    if op in ("attach", "detach"):
        dev = case.second("dev").read_text()
        r = (oracle.attach if op == "attach" else oracle.detach)(xml, dev, caps, profile=version)
        return {"xml": r.xml} if r.kind == "ok" else {"err": r.error}
    assert op == "abi", op
    dst = case.second("dst")
    r = oracle.abi(xml, dst.read_text() if dst else xml, caps, profile=version)
    return {} if r.kind == "ok" else {"err": r.error}


def outcome(name: str, version: str) -> str:
    """same | diff | declined: <reason>"""
    try:
        got = answer(name, version)
    except (OracleUnsupported, OracleInputError) as e:
        return f"declined: {e}"
    return "same" if got == expected(name, version) else "diff"


def test_every_build_recorded_every_case():
    assert len(CONTEXTS) >= 500
    for name, ctx in CONTEXTS.items():
        assert "scripts/record-profile-golden.py" in ctx["provenance"]["answers"]
        assert CASES[name].input.exists()
        for v in BUILDS:
            if ctx["op"] != "abi":  # an accepted ABI check leaves no file
                assert expected(name, v), f"{name}: nothing recorded for {v}"
    arches = Counter(ctx["arch"] for ctx in CONTEXTS.values())
    assert set(arches) == set(ARCHES)
    assert {ctx["op"] for ctx in CONTEXTS.values()} == {"load", "abi", "attach", "detach"}


@pytest.mark.parametrize("version", BUILDS)
def test_profile_matches_its_build_on_operations(version):
    outcomes = {name: outcome(name, version) for name in CONTEXTS}
    differ = {name for name, o in outcomes.items() if o != "same"}
    pinned = {name for (v, name) in KNOWN_DIFFERENCES if v == version}
    new = sorted(differ - pinned)
    gone = sorted(pinned - differ)
    assert not new, f"profile {version} differs from the build on {len(new)} unpinned cases: " + \
        ", ".join(f"{n} ({outcomes[n]})" for n in new[:20])
    assert not gone, f"profile {version} now agrees on pinned cases (remove them): {gone}"


def figures() -> dict[str, dict[str, tuple[int, int]]]:
    """build -> arch -> (agreeing, total): the per-arch figures of docs/fidelity.md."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for v in BUILDS:
        per: dict[str, list[int]] = {a: [0, 0] for a in ARCHES}
        for name, ctx in CONTEXTS.items():
            per[ctx["arch"]][1] += 1
            per[ctx["arch"]][0] += outcome(name, v) == "same"
        out[v] = {a: (s, t) for a, (s, t) in per.items()}
    return out


if __name__ == "__main__":
    import sys

    versions = sys.argv[1:] or BUILDS
    for v in versions:
        bad = [(n, outcome(n, v)) for n in CONTEXTS]
        bad = [(n, o) for n, o in bad if o != "same"]
        print(f"== {v}: {len(CONTEXTS) - len(bad)}/{len(CONTEXTS)} same")
        for n, o in bad:
            print(f"{v}\t{n}\t{o}")
