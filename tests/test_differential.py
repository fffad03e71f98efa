"""Oracle vs real libvirt 9.0.0, exactly (stored XML, migratable XML, error text).

Inputs: libvirt's own qemuxml2argvdata cases in scope, and generated domains over every modelled
arch/machine (VIRTFUZZ_DIFF_GENERATED, default 2000, split in shards for xdist). Every remaining
difference must be listed by signature, with its reason, in docs/fidelity.md: an undocumented
difference fails the test. Inputs the oracle declines are not counted as agreement.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fuzz.differential import compare, render, upstream_cases
from fuzz.generate import draw_batch
from virtfuzz.backends.oracle_backend import OracleBackend

pytestmark = pytest.mark.libvirt

FIDELITY = Path(__file__).resolve().parent.parent / "docs" / "fidelity.md"
GENERATED = int(os.environ.get("VIRTFUZZ_DIFF_GENERATED", "2000"))
SHARDS = 8


def _undocumented(tallies) -> list[tuple[str, str, str]]:
    doc = FIDELITY.read_text() if FIDELITY.exists() else ""
    return [d for t in tallies.values() for d in t.differences if d[1] not in doc]


def test_upstream_cases(libvirt_backend):
    cases = upstream_cases()
    assert len(cases) > 100, "libvirt's test data is missing (run scripts/fetch-libvirt-source.sh)"
    tallies = compare([n for n, _ in cases], [x for _, x in cases], OracleBackend(), libvirt_backend)
    print(render(tallies))
    assert sum(t.compared for t in tallies.values()) > 0
    missing = _undocumented(tallies)
    assert not missing, "undocumented oracle differences:\n" + "\n".join(f"{c}: {s}: {m}" for c, s, m in missing)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_generated_domains(shard, libvirt_backend):
    cases = draw_batch(max(1, GENERATED // SHARDS), seed=1000 + shard)
    tallies = compare([f"gen-{shard}-{i}" for i in range(len(cases))], [c.xml for c in cases],
                      OracleBackend(), libvirt_backend)
    print(render(tallies))
    arches = {a for a, t in tallies.items() if t.compared}
    assert len(arches) >= 5, f"generated cases cover too few arches: {arches}"
    missing = _undocumented(tallies)
    assert not missing, "undocumented oracle differences:\n" + "\n".join(f"{c}: {s}: {m}" for c, s, m in missing)
