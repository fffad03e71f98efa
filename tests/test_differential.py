"""Oracle vs real libvirt 9.0.0, exactly (stored XML, migratable XML, error text).

Inputs: libvirt's own qemuxml2argvdata cases in scope, and generated domains over every modelled
arch/machine (VIRTFUZZ_DIFF_GENERATED, default 2000, split in shards for xdist). Every remaining
difference must be listed by signature, with its reason, in docs/fidelity.md: an undocumented
difference fails the test. Inputs the oracle declines are not counted as agreement.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from fuzz.differential import compare, render, upstream_cases
from fuzz.generate import draw_batch
from tests.conftest import libvirt_missing
from virtfuzz.backends.oracle_backend import OracleBackend

pytestmark = pytest.mark.libvirt

FIDELITY = Path(__file__).resolve().parent.parent / "docs" / "fidelity.md"
GENERATED = int(os.environ.get("VIRTFUZZ_DIFF_GENERATED", "2000"))
SHARDS = 8


# libvirt 9.0.0's tests/qemuxml2argvdata inputs in scope, and at most how many of them the oracle
# declines (docs/fidelity.md: 326 of 396); generated domains are all in the modelled vocabulary.
UPSTREAM_IN_SCOPE = 396
UPSTREAM_DECLINED_AT_MOST = 326
_SECTION = "## Differential runs against the real libvirt"


def known_gaps(text: str) -> set[str]:
    """The signatures docs/fidelity.md lists as known differences: list items of its differential
    section that start with a backticked signature (``- `SIG`: reason``), nothing else in the file."""
    if _SECTION not in text:
        raise AssertionError(f"docs/fidelity.md has no section {_SECTION!r}")
    section = text.split(_SECTION, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\s*[-*] `([^`]+)`", section, re.M))


def test_known_gaps_are_read_from_their_list_only():
    doc = "# t\n- `in-another-section`\n" + _SECTION + " (x)\nprose `not-a-gap`\n- `gap-1`: why\n" \
          "  * `gap-2` why\n## next\n- `later`\n"
    assert known_gaps(doc) == {"gap-1", "gap-2"}
    assert known_gaps(FIDELITY.read_text()) == set()  # today: none remains (docs/fidelity.md says so)


def _undocumented(tallies) -> list[tuple[str, str, str]]:
    gaps = known_gaps(FIDELITY.read_text())
    return [d for t in tallies.values() for d in t.differences if d[1] not in gaps]


def test_upstream_cases(libvirt_backend):
    cases = upstream_cases()
    if not cases:
        libvirt_missing("libvirt's test data is missing (scripts/fetch-libvirt-source.sh)")
    assert len(cases) == UPSTREAM_IN_SCOPE
    tallies = compare([n for n, _ in cases], [x for _, x in cases], OracleBackend(), libvirt_backend)
    print(render(tallies))
    declined = sum(t.unsupported for t in tallies.values())
    assert declined <= UPSTREAM_DECLINED_AT_MOST, f"the oracle declines {declined} upstream cases"
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
    declined = sum(t.unsupported for t in tallies.values())
    assert declined == 0, f"the oracle declines {declined} generated cases (all are in its vocabulary)"
    missing = _undocumented(tallies)
    assert not missing, "undocumented oracle differences:\n" + "\n".join(f"{c}: {s}: {m}" for c, s, m in missing)
