"""The oracle's per-build profiles (oracle/data/<V>.json) against what each real build answered.

Expected outputs (the corpus's ``builds`` topic, ``NAME.<arch>-<V>.expected.*``, read through
virtfuzz.corpus) were recorded from the build itself by ``scripts/record-profile-golden.py``
(``scripts/recorder.py`` run with the build's own python3 inside its root filesystem), never from the
oracle.  No libvirt is needed to run these tests.
"""

from __future__ import annotations

import pytest

import oracle
from oracle.profile import get_profile, known_profiles, load_profile_data, profile_sources
from virtfuzz import corpus

BUILD_PROFILES = ["7.0.0", "11.3.0", "12.9.0"]


def _cases(version: str) -> list[corpus.CorpusCase]:
    return [c for c in corpus.cases() if c.topic == corpus.BUILDS_TOPIC and c.has(version)]


@pytest.mark.parametrize("version", BUILD_PROFILES)
def test_profile_matches_its_build(version):
    cases = _cases(version)
    names = [c.name for c in cases]
    assert len(names) >= 100, f"no recorded cases for {version}: scripts/record-profile-golden.py {version}"
    diffs = []
    for case in cases:
        assert case.op == "define", case.name
        r = oracle.define(case.input.read_text(), oracle.capset_for(case.arch, profile=version), profile=version)
        exp_out = case.read_expected(version)
        if "err" in exp_out:
            got = r.error if r.kind == "error" else f"({r.kind}) {r.xml or r.error}"
            exp = exp_out["err"].rstrip("\n")
        else:
            got = (r.xml, r.migratable or r.migratable_error) if r.kind == "ok" else r.error
            exp = (exp_out["xml"], exp_out["mig.xml"])
        if got != exp:
            diffs.append(case.name)
    assert not diffs, f"profile {version} differs from the build on {len(diffs)}/{len(names)}: {diffs[:10]}"


def test_profiles_known_and_unknown_refused():
    assert set(BUILD_PROFILES) | {"9.0.0"} <= set(known_profiles())
    with pytest.raises(oracle.OracleInputError,
                       match="known: 0.9.4, 1.3.0, 1.3.1, 1.3.5, 2.2.0, 7.0.0, 9.0.0, 11.3.0, 12.9.0"):
        get_profile("1.2.3")


ERA_PROFILES = ["0.9.4", "1.3.0", "1.3.1", "1.3.5", "2.2.0"]  # the seed thread's eras (no build)


@pytest.mark.parametrize("version", BUILD_PROFILES + ERA_PROFILES)
def test_every_change_is_cited(version):
    """A profile is a list of differences from its base, each citing libvirt's source."""
    base, changes, sources = profile_sources(version)
    assert base in known_profiles()

    def keys(d: dict, prefix: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            if isinstance(v, dict) and k == "rules":
                out += keys(v, f"{prefix}{k}.")
            else:
                out.append(prefix + k)
        return out

    missing = [k for k in keys(changes) if not sources.get(k, "").strip()]
    assert not missing, f"{version}: changes without a source citation: {missing}"
    stale = [k for k in sources if k not in keys(changes)]
    assert not stale, f"{version}: citations of nothing: {stale}"
    # the merged profile has every rule switch the base has (a typo would add a new one)
    assert set(load_profile_data(version)["rules"]) == set(load_profile_data("9.0.0")["rules"])


@pytest.mark.parametrize("version", BUILD_PROFILES)
def test_each_profile_uses_its_builds_qemu(version):
    qemu = {"7.0.0": "5.2.0", "11.3.0": "10.0.13", "12.9.0": "11.1.3"}[version]
    for arch in ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "s390x", "riscv64"):
        cs = oracle.capset_for(arch, profile=version)
        assert cs.version == qemu and f"qemu-{qemu}" in cs.source
    # libvirt 9.0.0's own sets are untouched by the other builds' recordings of the same QEMU
    assert "qemucapabilitiesdata" in oracle.capset_for("x86_64", "5.2.0").source or \
        "qemu-5.2.0" not in oracle.capset_for("x86_64", "5.2.0").source
