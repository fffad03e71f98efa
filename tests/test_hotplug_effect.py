"""Invariant 7: an accepted config attach/detach changes exactly the device it names."""

from __future__ import annotations

import pytest

from contract.results import DefineResult, XmlResult
from fuzz.checks import Observation
from fuzz.hotplug_effect import hotplug_does_what_it_says
from tests.conftest import domain

BEFORE = ("<domain><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
          "<controller type='usb' index='0' model='qemu-xhci'><address type='pci' bus='0x00' slot='0x03'/></controller>"
          "<input type='mouse' bus='usb'><address type='usb' bus='0' port='1'/></input></devices></domain>")
TABLET = "<input type='tablet' bus='usb'><address type='usb' bus='0' port='2'/></input>"


def _obs(after: str, step: str, device: str) -> Observation:
    return Observation(define=DefineResult(kind="ok", xml=BEFORE), hotplug=XmlResult(kind="ok", xml=after),
                       step=step, device=device)


def test_attach_adding_exactly_the_device_passes_and_moving_another_fails():
    good = BEFORE.replace("</devices>", TABLET + "</devices>")
    assert hotplug_does_what_it_says(_obs(good, "attach", "<input type='tablet' bus='usb'/>"), "libvirt") == []
    moved = good.replace("port='1'", "port='3'")
    (f,) = hotplug_does_what_it_says(_obs(moved, "attach", "<input type='tablet' bus='usb'/>"), "libvirt")
    assert f.invariant == "7-hotplug-does-what-it-says" and "changed or removed an existing <input" in f.message
    (f,) = hotplug_does_what_it_says(_obs(good, "attach", "<input type='keyboard' bus='usb'/>"), "libvirt")
    assert "added <input type='tablet'>" in f.message


def test_detach_must_remove_exactly_the_named_device():
    mouse = "<input type='mouse' bus='usb'/>"
    after = BEFORE.replace("<input type='mouse' bus='usb'><address type='usb' bus='0' port='1'/></input>", "")
    assert hotplug_does_what_it_says(_obs(after, "detach", mouse), "libvirt") == []
    both = after.replace("<controller type='usb' index='0' model='qemu-xhci'><address type='pci' bus='0x00' "
                         "slot='0x03'/></controller>", "")
    (f,) = hotplug_does_what_it_says(_obs(both, "detach", mouse), "libvirt")
    assert "removed <controller type='usb' model='qemu-xhci'>, <input type='mouse'>" in f.message


@pytest.mark.libvirt
def test_real_attach_that_needs_new_pci_controllers_passes(libvirt_backend):
    # measured on libvirt 9.0.0: an EHCI on riscv64 'virt' (PCIe only) gets a pcie-root-port and a
    # pcie-to-pci-bridge added for it, and the root port at 00:01.0 becomes multifunction
    defined = libvirt_backend.define_many([domain("riscv64", "virt")])[0]
    device = "<controller type='usb' model='ehci'/>"
    after = libvirt_backend.attach_many([(defined.xml, device)])[0]
    assert after.kind == "ok", after.error
    assert after.xml.count("<controller type='pci'") > defined.xml.count("<controller type='pci'")
    obs = Observation(define=defined, hotplug=after, step="attach", device=device)
    assert hotplug_does_what_it_says(obs, "libvirt") == []


def test_permutation_keeps_the_emulator_first_and_needs_addresses():
    import random

    from fuzz.order_invariance import permuted

    rng = random.Random(1)
    p = permuted(BEFORE, rng)
    assert p is not None and p.index("<emulator>") < p.index("<input") < p.index("<controller")
    assert permuted(BEFORE.replace("<address type='usb' bus='0' port='1'/>", ""), rng) is not None  # inputs exempt
    no_addr = BEFORE.replace("<address type='pci' bus='0x00' slot='0x03'/>", "")
    assert permuted(no_addr, rng) is None  # a controller without an address could move


def test_attach_then_detach_must_give_back_the_original_devices():
    from fuzz.hotplug_effect import added_device

    good = BEFORE.replace("</devices>", TABLET + "</devices>")
    assert added_device(BEFORE, good, "<input type='tablet' bus='usb'/>") == \
        "<input bus=\"usb\" type=\"tablet\"><address bus=\"0\" port=\"2\" type=\"usb\"/></input>"
    obs = _obs(good, "attach", "<input type='tablet' bus='usb'/>")
    obs.undo = XmlResult(kind="ok", xml=BEFORE)
    assert hotplug_does_what_it_says(obs, "libvirt") == []
    obs.undo = XmlResult(kind="ok", xml=BEFORE.replace("port='1'", "port='4'"))  # another device moved
    (f,) = hotplug_does_what_it_says(obs, "libvirt")
    assert "does not restore the devices: <input type='mouse'>, <input type='mouse'>" in f.message
    obs.undo = XmlResult(kind="error", error="device not found: device not present in domain configuration")
    (f,) = hotplug_does_what_it_says(obs, "libvirt")
    assert "cannot be detached again" in f.message
