"""The detach requests the sequence tier draws from a stored definition (fuzz.detach_forms)."""

from __future__ import annotations

from fuzz.detach_forms import forms

STORED = """<domain type='qemu'><name>d</name><devices>
<controller type='usb' index='0' model='ich9-ehci1'><alias name='ua-ehci'/>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x7'/></controller>
<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0' multifunction='on'/></controller>
<controller type='pci' index='0' model='pci-root'/>
<input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>
<input type='mouse' bus='ps2'/>
</devices></domain>"""


def test_every_usb_device_in_each_form_and_nothing_else():
    got = forms(STORED)
    names = [n for n, _ in got]
    # two USB controllers (4 forms / 3 forms: only the first has a user alias) and the USB tablet
    assert names == ["as-stored", "bare", "by-alias", "index-only", "as-stored", "bare", "index-only",
                     "as-stored", "bare"]
    xml = dict(zip(range(len(got)), (x for _, x in got), strict=True))
    assert "<address" in xml[0] and "ua-ehci" in xml[0]
    assert xml[1] == '<controller type="usb" index="0" model="ich9-ehci1"/>'
    assert xml[2] == '<controller type="usb"><alias name="ua-ehci"/></controller>'
    assert xml[3] == xml[6] == '<controller type="usb" index="0"/>'
    assert "<master startport" in xml[5] and "<address" not in xml[5]  # bare keeps the companion's master
    assert xml[8] == '<input type="tablet" bus="usb"/>'
    assert not any("pci-root" in x or "ps2" in x for _, x in got)


def test_nothing_to_detach_from_a_broken_or_empty_definition():
    assert forms("<domain") == []
    assert forms("<domain type='qemu'><name>d</name></domain>") == []


def test_a_permute_step_continues_the_life_on_the_permuted_order():
    """fuzz.sequence's ``permute`` step (invariant 8 inside a sequence): the life goes on with the
    permuted definition as stored (libvirt formats devices by category, so only the order within
    one, here the two USB inputs, survives), with the same devices (oracle only: no libvirt)."""
    from fuzz.hotplug_effect import _devices
    from fuzz.sequence import SequenceRunner, Step
    from virtfuzz.backends import open_backend

    dom = ("<domain type='qemu'><name>p</name><uuid>8279095b-d386-5930-872a-065b726c5bb7</uuid>"
           "<memory>65536</memory><os><type arch='aarch64' machine='virt'>hvm</type></os><devices>"
           "<controller type='usb' model='qemu-xhci'/><input type='tablet' bus='usb'/>"
           "<input type='mouse' bus='usb'/></devices></domain>")
    r = SequenceRunner({"oracle": open_backend("oracle")})
    assert r.run(Step("define", dom)) == []
    before = r.state["oracle"]
    fails = r.run(Step("permute", "3"))
    # the ABI check compares device lists by position (the known libvirt behaviour
    # 8-order-does-not-matter-libvirt-0382260e86, which the oracle reproduces): its one finding here
    assert [(f.invariant, f.xpath) for f in fails] == [("8-order-does-not-matter", "order/abi")]
    after = r.state["oracle"]
    assert before.index("type='tablet'") < before.index("type='mouse'")
    assert after.index("type='mouse'") < after.index("type='tablet'")  # the life goes on permuted
    assert _devices(after) == _devices(before)
