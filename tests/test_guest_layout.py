"""The guest layout (what QEMU is given) and cross-build migration, on the real builds.

Expected layouts are libvirt's own command lines as measured on each build (hand-checked against
QEMU's device model: an ICH9 EHCI at function 7 with its UHCI companion at function 0 of the same
slot, the hub and tablet on the first USB ports), not the output of the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from contract.guest_layout import first_difference, parse_argv
from tests.test_builds import VERSIONS, require_build

VIRTFUZZ = [sys.executable, "-m", "virtfuzz.cli"]

# libvirt 7.0.0 prints -device options as key=value strings, 9.0.0 and later as JSON
ARGV_7 = ("/usr/bin/qemu-system-x86_64 -machine pc-i440fx-5.2,accel=tcg,usb=off -device "
          "ich9-usb-ehci1,id=usb,bus=pci.0,addr=0x3.0x7 -device ich9-usb-uhci1,masterbus=usb.0,firstport=0,"
          "bus=pci.0,multifunction=on,addr=0x3 -device ioh3420,port=0x10,chassis=1,id=pci.1,bus=pcie.0,addr=0x2 "
          "-device usb-tablet,id=input0,bus=usb.0,port=1 -device virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x4")
ARGV_9 = ("/usr/bin/qemu-system-x86_64 -machine pc-i440fx-5.2,usb=off -device "
          "'{\"driver\":\"ich9-usb-ehci1\",\"id\":\"usb\",\"bus\":\"pci.0\",\"addr\":\"0x3.0x7\"}' -device "
          "'{\"driver\":\"ich9-usb-uhci1\",\"masterbus\":\"usb.0\",\"firstport\":0,\"bus\":\"pci.0\","
          "\"multifunction\":true,\"addr\":\"0x3\"}' -device '{\"driver\":\"ioh3420\",\"port\":16,\"chassis\":1,"
          "\"id\":\"pci.1\",\"bus\":\"pcie.0\",\"addr\":\"0x2\"}' -device "
          "'{\"driver\":\"usb-tablet\",\"id\":\"input0\",\"bus\":\"usb.0\",\"port\":\"1\"}' -device "
          "'{\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\",\"bus\":\"pci.0\",\"addr\":\"0x4\"}'")


def test_both_command_line_syntaxes_give_the_same_layout():
    a, b = parse_argv(ARGV_7), parse_argv(ARGV_9)
    assert a == b and first_difference(a, b) is None
    assert a["machine"] == "pc-i440fx-5.2"
    assert [d["driver"] for d in a["devices"]] == ["ich9-usb-ehci1", "ich9-usb-uhci1", "ioh3420", "usb-tablet"]
    assert a["devices"][1] == {"driver": "ich9-usb-uhci1", "bus": "pci.0", "addr": "3.0", "masterbus": "usb.0",
                               "firstport": 0, "multifunction": True}
    assert a["devices"][2]["port"] == 16 and a["devices"][3]["port"] == "1"


def test_first_difference_names_the_device_and_property():
    a = parse_argv(ARGV_9)
    b = parse_argv(ARGV_9.replace('"port\\":\\"1\\"', "X").replace('"port":"1"', '"port":"2"'))
    # a device is where it is plugged in: moved to another port, it is another device
    assert first_difference(a, b) == "device at usb.0:1 (usb-tablet) only in the first"
    renamed = parse_argv(ARGV_9.replace('"id\\":\\"input0', "X").replace('"id":"input0"', '"id":"input9"'))
    assert first_difference(a, renamed) is None  # a QEMU id alone is not part of the guest
    assert parse_argv("qemu -machine pc -usb")["devices"] == [{"driver": "-usb"}]


GUEST = ("<domain type='qemu'><name>g</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
         "<memory unit='KiB'>65536</memory><os><type arch='x86_64' machine='pc-i440fx-5.2'>hvm</type></os>"
         "<devices><controller type='usb' model='ich9-ehci1'/><controller type='usb' model='ich9-uhci1'/>"
         "<controller type='pci' model='pci-bridge' index='1'/><input type='tablet' bus='usb'/>"
         "<hub type='usb'/></devices></domain>\n")
EXPECTED = {"machine": "pc-i440fx-5.2", "devices": [
    {"driver": "pci-bridge", "id": "pci.1", "bus": "pci.0", "addr": "2.0", "chassis_nr": 1},
    {"driver": "ich9-usb-ehci1", "id": "usb", "bus": "pci.0", "addr": "3.7"},
    {"driver": "ich9-usb-uhci1", "bus": "pci.0", "addr": "3.0", "masterbus": "usb.0", "firstport": 0,
     "multifunction": True},
    {"driver": "usb-hub", "id": "hub0", "bus": "usb.0", "port": "1"},
    {"driver": "usb-tablet", "id": "input0", "bus": "usb.0", "port": "2"}]}


@pytest.mark.libvirt
@pytest.mark.parametrize("version", VERSIONS)
def test_guest_command_gives_the_layout_on_every_build(version, tmp_path):
    require_build(version)
    f = tmp_path / "g.xml"
    f.write_text(GUEST)
    p = subprocess.run([*VIRTFUZZ, "guest", "--libvirt", version, str(f)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == EXPECTED


@pytest.mark.libvirt
def test_migrate_between_builds(tmp_path):
    for v in ("9.0.0", "12.9.0", "7.0.0"):
        require_build(v)
    f = tmp_path / "m.xml"
    f.write_text(GUEST)
    p = subprocess.run([*VIRTFUZZ, "migrate", "--from", "libvirt:9.0.0", "--to", "libvirt:12.9.0", str(f)],
                       capture_output=True, text=True, timeout=300)
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["ok"] and report["guest"]["same"], report["reason"]
    assert report["guest"]["source"] == EXPECTED and report["abi"] == {"ok": True, "error": None}
    # the machine alias resolves to QEMU 11.1's newest type, which QEMU 5.2 does not know
    f.write_text(GUEST.replace("pc-i440fx-5.2", "pc"))
    p = subprocess.run([*VIRTFUZZ, "migrate", "--from", "libvirt:12.9.0", "--to", "libvirt:7.0.0", str(f)],
                       capture_output=True, text=True, timeout=300)
    report = json.loads(p.stdout)
    assert p.returncode == 1 and not report["ok"]
    assert "pc-i440fx-11.1" in report["reason"] and report["destination"]["error"]


def test_migrate_refuses_backend_options_and_unknown_oracle_profiles(tmp_path):
    f = tmp_path / "m.xml"
    f.write_text(GUEST)
    p = subprocess.run([*VIRTFUZZ, "migrate", "--from", "oracle:3.1.4", "--to", "libvirt:9.0.0", str(f)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "oracle profile" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = subprocess.run([*VIRTFUZZ, "migrate", "--libvirt", "9.0.0", "--from", "libvirt:9.0.0", "--to",
                        "libvirt:9.0.0", str(f)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--libvirt has no effect" in p.stderr


def test_oracle_guest_layout_is_the_measured_one(tmp_path):
    """The oracle's layout of GUEST is the one every real build gave (EXPECTED, measured)."""
    f = tmp_path / "g.xml"
    f.write_text(GUEST)
    p = subprocess.run([*VIRTFUZZ, "guest", "--backend", "oracle", str(f)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == EXPECTED


def test_migrate_between_oracle_profiles(tmp_path):
    f = tmp_path / "m.xml"
    f.write_text(GUEST)
    p = subprocess.run([*VIRTFUZZ, "migrate", "--from", "oracle:9.0.0", "--to", "oracle:12.9.0", str(f)],
                       capture_output=True, text=True, timeout=60)
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["ok"] and report["guest"]["source"] == EXPECTED, report["reason"]
    assert set(report) == {"ok", "reason", "source", "destination", "abi", "guest"}


@pytest.mark.libvirt
def test_migrate_from_the_oracle_to_a_build(tmp_path):
    require_build("9.0.0")
    f = tmp_path / "m.xml"
    f.write_text(GUEST)
    p = subprocess.run([*VIRTFUZZ, "migrate", "--from", "oracle:9.0.0", "--to", "libvirt:9.0.0", str(f)],
                       capture_output=True, text=True, timeout=300)
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["ok"] and report["guest"]["destination"] == EXPECTED, report["reason"]
