"""The historic era profiles against their own release's golden test files
(../shared/reference/libvirt-history/<tag>/tests/, scripts/era-golden.py): the expectations are the
golden files themselves; this pins which of them agree per tag and that no declined count grows.
Every difference must be listed with its reason (scripts/era-golden.py KNOWN_DIFFERENCES,
docs/fidelity.md "Historic eras against their own golden files")."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("era_golden", ROOT / "scripts" / "era-golden.py")
era_golden = importlib.util.module_from_spec(_spec)
sys.modules["era_golden"] = era_golden  # its dataclasses look their module up
_spec.loader.exec_module(era_golden)

# tag -> (files, applicable, agree, declined) as measured when the profiles were checked
PINNED = {
    "v0.9.4": (7, 1, 1, 6),
    "v0.9.5": (16, 10, 7, 6),
    "v0.9.12": (21, 11, 11, 10),
    "v1.3.0": (51, 18, 15, 26),
    "v1.3.1": (60, 20, 16, 31),
    "v1.3.4": (60, 20, 16, 31),
    "v1.3.5": (61, 21, 16, 31),
    "v2.1.0": (69, 27, 19, 30),
    "v2.2.0": (70, 27, 15, 30),
}



@pytest.fixture(autouse=True)
def _history_present():
    """The golden files live outside the repository (libvirt's own test data, not copied here):
    missing, the tests fail (set VIRTFUZZ_LIBVIRT_HISTORY to the history's directory)."""
    assert era_golden.HISTORY.is_dir(), f"no libvirt release history at {era_golden.HISTORY}"


@pytest.mark.parametrize("tag", sorted(PINNED))
def test_era_agrees_with_its_golden_files(tag):
    r = era_golden.run_tag(tag)
    files, applicable, agree, declined = PINNED[tag]
    assert r.files == files
    assert len(r.declined) <= declined, r.declined
    assert r.agree >= agree, r.differ
    unexplained = {n: d for n, d in r.differ.items() if (tag, n) not in era_golden.KNOWN_DIFFERENCES}
    assert not unexplained, unexplained


def test_every_tag_is_mapped_and_pinned():
    assert set(era_golden.TAGS) == set(PINNED)
    tags = {p.name for p in era_golden.HISTORY.iterdir() if p.name.startswith("v")}
    assert tags == set(PINNED)


@pytest.mark.parametrize("tag", ["v1.3.0", "v1.3.1", "v1.3.4", "v1.3.5", "v2.1.0", "v2.2.0"])
def test_s390_is_the_eras_third_arch(tag):
    """s390x (s390-ccw-virtio standing in for the s390-virtio machine QEMU 7.2 lacks): the tag's own
    s390-allow-bogus-usb-* golden files agree: a model-less USB controller with a bogus PCI address
    is kept and gives nothing on the command line, model='none' neither (548ba43028; profile switch
    usb_legacy_skip_banned), and no implicit USB controller."""
    r = era_golden.run_tag(tag)
    assert {"s390-allow-bogus-usb-controller", "s390-allow-bogus-usb-none"} <= set(r.agreeing), \
        (r.differ, r.declined)
