"""Config attach of input devices: the oracle against the real libvirt on the same definition.

Hotplug parses a device with the parser a domain's devices go through (virDomainDeviceDefParse ->
virDomainInputDefParseXML, src/conf/domain_conf.c), so the oracle must refuse the same inputs with
the same messages; the expectation is whatever the real libvirt answers, not a copy of the oracle.
"""

from __future__ import annotations

import pytest

from tests.conftest import domain
from virtfuzz.backends.oracle_backend import OracleBackend

pytestmark = pytest.mark.libvirt

DEVICES = [
    "<input type='tablet' bus=''/>",          # the oracle used to accept this on attach
    "<input bus='usb'/>",
    "<input type='joystick' bus='usb'/>",
    "<input type='tablet'/>",
    "<input type='keyboard' bus='usb'/>",
    "<input type='mouse' bus='usb'><address type='usb' bus='0' port='2'/></input>",
]


@pytest.mark.parametrize("device", DEVICES)
def test_attach_input_matches_libvirt(libvirt_backend, device):
    stored = libvirt_backend.define(domain("x86_64", "pc")).xml
    real = libvirt_backend.attach_many([(stored, device)])[0]
    model = OracleBackend().attach_many([(stored, device)])[0]
    assert (model.kind, model.error, model.xml) == (real.kind, real.error, real.xml)
