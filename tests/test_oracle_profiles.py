"""The oracle's per-build profiles (oracle/data/<V>.json) against what each real build answered.

Expected outputs in ``corpus/cases/oracle-builds/<V>/`` were recorded from the build itself by
``scripts/record-profile-golden.py`` (``scripts/recorder.py`` run with the build's own python3 inside
its root filesystem), never from the oracle.  No libvirt is needed to run these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import oracle
from oracle.profile import get_profile, known_profiles, load_profile_data, profile_sources

GOLDEN = Path(__file__).resolve().parent.parent / "corpus" / "cases" / "oracle-builds"
BUILD_PROFILES = ["7.0.0", "11.3.0", "12.9.0"]


def _cases(version: str) -> list[str]:
    return sorted(p.name[: -len(".xml")] for p in (GOLDEN / version).glob("*.xml") if ".expected" not in p.name)


def _arch(xml: str) -> str:
    return xml.split("arch='", 1)[1].split("'", 1)[0]


@pytest.mark.parametrize("version", BUILD_PROFILES)
def test_profile_matches_its_build(version):
    names = _cases(version)
    assert len(names) >= 100, f"no recorded cases for {version}: scripts/record-profile-golden.py {version}"
    d = GOLDEN / version
    diffs = []
    for name in names:
        xml = (d / f"{name}.xml").read_text()
        r = oracle.define(xml, oracle.capset_for(_arch(xml), profile=version), profile=version)
        err = d / f"{name}.expected.err"
        if err.exists():
            got = r.error if r.kind == "error" else f"({r.kind}) {r.xml or r.error}"
            exp = err.read_text().rstrip("\n")
        else:
            got = (r.xml, r.migratable or r.migratable_error) if r.kind == "ok" else r.error
            exp = ((d / f"{name}.expected.xml").read_text(), (d / f"{name}.expected.mig.xml").read_text())
        if got != exp:
            diffs.append(name)
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
