"""Invariant 6 (migration keeps the guest) and the campaign across builds."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from contract.results import AbiResult, DefineResult, GuestResult, XmlResult
from fuzz.migration import check_pair, pin_machine

X = "<domain type='qemu'><os><type arch='x86_64' machine='{m}'>hvm</type></os></domain>"


def test_pin_machine_maps_aliases_to_the_common_generation():
    assert "machine='pc-i440fx-5.2'" in pin_machine(X.format(m="pc"))
    assert "machine='pc-q35-5.2'" in pin_machine(X.format(m="q35"))
    assert pin_machine(X.format(m="pc-q35-5.2")) == X.format(m="pc-q35-5.2")
    assert pin_machine(X.format(m="pc-i440fx-7.2")) is None  # QEMU 5.2 does not know it
    assert pin_machine("<domain/>") is None


LAYOUT = {"machine": "pc-i440fx-5.2", "devices": [{"driver": "piix3-usb-uhci", "id": "usb", "bus": "pci.0",
                                                    "addr": "1.2"}]}
MOVED = {"machine": "pc-i440fx-5.2", "devices": [{"driver": "piix3-usb-uhci", "id": "usb", "bus": "pci.0",
                                                   "addr": "3.0"}]}


class Side:
    """A backend double answering from fixed results (the real builds are tested below)."""

    def __init__(self, layout, abi=None, load_error=None):
        self.layout, self.abi, self.load_error = layout, abi, load_error

    def define_many(self, xmls, migratable=True):
        return [DefineResult(kind="ok", xml=x, migratable=x) for x in xmls]

    def load_many(self, xmls):
        if self.load_error:
            return [XmlResult(kind="error", error=self.load_error) for _ in xmls]
        return [XmlResult(kind="ok", xml=x) for x in xmls]

    def abi_many(self, pairs):
        return [AbiResult(kind="ok") if self.abi is None else AbiResult(kind="error", error=self.abi) for _ in pairs]

    def guest_many(self, xmls):
        return [GuestResult(kind="ok", layout=self.layout) for _ in xmls]


def test_accepted_but_changed_guest_is_a_missed_abi_break():
    out = Counter()
    fails = check_pair(Side(LAYOUT), Side(MOVED), "libvirt:A->libvirt:B", ["<domain/>"], out)
    assert [(i, f.invariant, f.party) for i, f in fails] == [(0, "6-migration-keeps-guest", "libvirt:A->libvirt:B")]
    assert "device at pci.0:1.2 (piix3-usb-uhci) only in the first" in fails[0][1].message
    assert out["missed-abi-break"] == 1


def test_refused_identical_guest_is_a_false_alarm_and_agreement_is_no_finding():
    fails = check_pair(Side(LAYOUT), Side(LAYOUT, abi="Target USB port 1 does not match"), "p", ["<domain/>"])
    assert len(fails) == 1 and "refuses an identical guest" in fails[0][1].message
    assert check_pair(Side(LAYOUT), Side(LAYOUT), "p", ["<domain/>"]) == []
    assert check_pair(Side(LAYOUT), Side(MOVED, abi="Target controller model differs"), "p", ["<domain/>"]) == []
    out = Counter()
    assert check_pair(Side(LAYOUT), Side(LAYOUT, load_error="unknown model"), "p", ["<domain/>"], out) == []
    assert out["destination-refuses"] == 1


@pytest.mark.libvirt
def test_short_campaign_across_builds(tmp_path):
    from fuzz.campaign import CampaignConfig, run_campaign
    from tests.test_builds import require_build

    require_build("12.9.0")
    cfg = CampaignConfig(budget=15, seed=2, jobs=1, out=tmp_path, backends=("libvirt",), batch=32,
                         builds=("12.9.0",), variant_rate=0.0)
    run_campaign(cfg)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert not s["batch_errors"], s["batch_errors"]
    assert s["cases_by_target"]["libvirt:12.9.0"] > 0 and s["cases_by_target"]["libvirt:9.0.0"] >= \
        s["cases_by_target"]["libvirt:12.9.0"]
    migrated = {k: v for k, v in s["migration_outcomes"].items() if k.endswith(":migrated")}
    assert migrated and sum(migrated.values()) > 0, s["migration_outcomes"]
    # both directions and a save/restore on each build itself (the same build as destination)
    pairs = {k.rsplit(":", 1)[0] for k in s["migration_outcomes"]}
    assert {"libvirt:9.0.0->libvirt:12.9.0", "libvirt:12.9.0->libvirt:9.0.0", "libvirt:9.0.0->libvirt:9.0.0",
            "libvirt:12.9.0->libvirt:12.9.0"} <= pairs, sorted(pairs)
