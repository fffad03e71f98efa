"""Every migration claim of the seed thread (../shared/seed/000_8ff4a248d03eb294.txt, libvirt review
of the 2016 "Reflect USB controller model in guest XML" series) as a cell of ``virtfuzz matrix``,
answered by the oracle's era profiles: 0.9.4, 1.3.0 = [A], 1.3.1 = [B], 1.3.5 = [C], 2.2.0 = the
reviewed series, and 9.0.0 (the oracle's profile of the host build).
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import pytest

from virtfuzz.commands.matrix import matrix
from virtfuzz.targets import Target

A, B, C, PATCH, OLD, NOW = "libvirt-1.3.0", "libvirt-1.3.1", "libvirt-1.3.5", "libvirt-2.2.0", "libvirt-0.9.4", \
    "libvirt-9.0.0"
ORACLE = [Target("oracle", v) for v in ("0.9.4", "1.3.0", "1.3.1", "1.3.5", "2.2.0", "9.0.0")]
PSERIES = ("ppc64", "pseries-5.2")
PC = ("x86_64", "pc-i440fx-5.2")


@cache
def cells(arch: str, machine: str, scenario: str) -> dict:
    return matrix(arch, machine, scenario, ORACLE)["results"]


@pytest.mark.parametrize("scenario", ["plain", "unplug-before-usb"])
@pytest.mark.parametrize("other", [B, C, NOW])
def test_A_and_anything_else_is_broken_on_ppc64(scenario, other):
    """"Migration between [A] and anything else is AFAIK broken since the address used by -usb never
    matches the one we pick for the -device" (Ján Tomko)."""
    m = cells(*PSERIES, scenario)
    assert not m[A][other]["ok"] and not m[other][A]["ok"]
    # -usb is compared as the device QEMU creates for it: a pSeries slot-0 controller
    reason = m[A][other]["reason"]
    assert ("the guest changes" in reason and "usb" in reason) or "Unknown model type" in reason, reason


def test_A_receives_an_explicit_model_from_the_reviewed_series():
    """Where the model disagrees with "[A] and anything else": a 2.2.0 source writes
    model='pci-ohci' into the XML it sends (qemuDomainControllerDefPostParse, f55eaccb0c), and [A]
    gives -usb only to a controller without a model (v1.3.0 qemuBuildCommandLine), so 2.2.0 -> [A]
    keeps the guest. The claim was made of model-less controllers ([B], [C]), where it holds."""
    m = cells(*PSERIES, "plain")
    assert m[PATCH][A]["ok"], m[PATCH][A]["reason"]
    assert not m[A][PATCH]["ok"]


@pytest.mark.parametrize("scenario", ["plain", "unplug-before-usb"])
def test_C_to_B_always_works(scenario):
    """"When migrating between [C] and [B], the destination will receive the <controller> element,
    including the PCI address, so it should have no problem just using it." / "Yes, [C] -> [B]
    should always work(TM).\""""
    m = cells(*PSERIES, scenario)
    assert m[C][B]["ok"], m[C][B]["reason"]


def test_B_to_C_works_in_plain():
    """"Migration between [B] and [C] should already work in both directions AFAICT." (Andrea
    Bolognani) -- true of a guest whose controller took the first free slot."""
    m = cells(*PSERIES, "plain")
    assert m[B][C]["ok"] and m[C][B]["ok"]


def test_B_to_C_breaks_after_an_unplug_before_the_usb_controller():
    """"The use case described by the [C] commit: giving the USB controller an address after another
    device, then unplugging that device. [B] on destination will not get the controller address
    and assign the earliest free slot, which does not match." (Ján Tomko) -- [B]'s migratable XML
    drops the model-less controller (v1.3.1 qemuDomainDefFormatBuf), every destination re-adds it
    at the first free slot."""
    m = cells(*PSERIES, "unplug-before-usb")
    for dst in (B, C, PATCH):
        assert not m[B][dst]["ok"]
        # the USB controller sits at 00:02.0 on the source and nowhere there on the destination
        assert "device at pci.0:2.0 (pci-ohci) only in the first" in m[B][dst]["reason"], m[B][dst]["reason"]


def test_pc_has_no_slot_before_usb():
    """192a53e07c's message: "for pc-i440fx, there cant be any slots before USB as it is fixed on
    slot 1": the unplug case keeps the guest between every era on i440fx."""
    m = cells(*PC, "unplug-before-usb")
    assert all(c["ok"] for row in m.values() for c in row.values())


@pytest.mark.parametrize("src", [PATCH, NOW])
def test_i440fx_default_controller_migrates_to_0_9_4(src):
    """"extend qemuDomainDefFormatBuf to also drop PIIX3 from migratable XML" so that a patch-era
    i440fx guest with the default controller migrates to libvirt <= 0.9.4, which knows no USB
    controller element and always passes -usb (QEMU's piix3-usb-uhci at 1.2: the same device)."""
    m = cells(*PC, "plain")
    assert m[src][OLD]["ok"], m[src][OLD]["reason"]


def test_a_usb_controller_is_unknown_to_0_9_4():
    """"So passing it in XML unconditionally fails when being parsed on the destination": a
    pSeries controller is sent (not i440fx), and 0.9.4 refuses the element."""
    m = cells(*PSERIES, "plain")
    assert not m[C][OLD]["ok"] and "Unknown controller type 'usb'" in m[C][OLD]["reason"]


def test_matrix_command_json_shape(tmp_path):
    p = subprocess.run([sys.executable, "-m", "virtfuzz.cli", "matrix", "--arch", "ppc64", "--machine",
                        "pseries-5.2", "--scenario", "unplug-before-usb", "--targets",
                        "oracle:1.3.1,oracle:1.3.5", "--format", "json"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)
    assert set(m) == {"scenario", "arch", "machine", "results"}
    assert m["scenario"] == "unplug-before-usb" and m["arch"] == "ppc64" and m["machine"] == "pseries-5.2"
    assert set(m["results"]) == {B, C} and set(m["results"][B]) == {B, C}
    cell = m["results"][C][B]
    assert set(cell) == {"ok", "reason"} and cell["ok"] and cell["reason"].startswith("oracle 1.3.5 -> oracle 1.3.1")
