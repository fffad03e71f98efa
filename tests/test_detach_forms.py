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
