"""The oracle's guest layout against each real build's, on the corpus' recorded define cases.

For every accepted define case a build recorded, its stored definition (``NAME.<arch>-<V>.expected.xml``,
libvirt's own output) is given to the build's ``domainXMLToNative`` (the real layout, through the
libvirt backend) and to the oracle's profile of V. Every layout or command-line error must be the
same; the oracle may decline only what this file pins (domains with a CPU model other than QEMU's
default: CPU model translation is not modelled), so a regression that makes it decline more fails.
"""

from __future__ import annotations

import pytest

from virtfuzz import corpus
from virtfuzz.backends import open_backend

# oracle declines per build: domains whose CPU model is not the machine's default (see oracle/layout.py
# _machine_and_cpu). A changed count is a reviewed edit, with the reason.
DECLINED = {"9.0.0": 53, "7.0.0": 0, "11.3.0": 0, "12.9.0": 0}


def _stored(version: str) -> list[tuple[str, str]]:
    out = []
    for case in corpus.cases():
        if case.op == "define" and not case.caps_del and case.has(version):
            got = case.expected_for(version)
            if "xml" in got:
                out.append((case.name, got["xml"].read_text()))
    return out


@pytest.mark.libvirt
@pytest.mark.parametrize("version", sorted(DECLINED))
def test_oracle_layout_is_the_real_one_on_recorded_cases(version):
    from tests.test_builds import require_build

    if version != "9.0.0":
        require_build(version)
    cases = _stored(version)
    assert len(cases) > 80, f"{version}: only {len(cases)} recorded define cases"
    real, orc = open_backend("libvirt", libvirt_version=version), open_backend("oracle", libvirt_version=version)
    try:
        xmls = [x for _, x in cases]
        got_real, got_oracle = real.guest_many(xmls), orc.guest_many(xmls)
    finally:
        real.close()
    declined = [n for (n, _), o in zip(cases, got_oracle, strict=True) if o.kind == "unsupported"]
    differ = [f"{n}: real {r.kind} {r.layout} {r.error} / oracle {o.kind} {o.layout} {o.error}"
              for (n, _), r, o in zip(cases, got_real, got_oracle, strict=True)
              if o.kind != "unsupported" and (r.kind, r.layout, r.error) != (o.kind, o.layout, o.error)]
    assert not differ, "\n".join(differ[:5])
    assert len(declined) == DECLINED[version], declined
    assert all(r.kind in ("ok", "error") for r in got_real)
