"""The shared backend options mean the same on every command and backend, and none is ignored.

Expectations here are libvirt's documented behaviour or the CLI contract (exit 2 and one line
naming the file for bad input), not outputs of the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import domain, seed_data_dir
from virtfuzz.backends.caps_context import portable
from virtfuzz.cli import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    path = seed_data_dir(tmp_path / "data")
    monkeypatch.setenv("VIRTFUZZ_DATA_DIR", str(path))
    return path


def _write(tmp_path: Path, xml: str, name: str = "d.xml") -> Path:
    p = tmp_path / name
    p.write_text(xml)
    return p


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_unknown_caps_del_flag_names_the_closest_ones(tmp_path, capsys, data_dir):
    f = _write(tmp_path, domain("x86_64", "pc"))
    assert main(["define", "--backend", "oracle", "--caps-del", "piix3-usb-uhc", str(f)]) == 2
    err = _one_error_line(capsys)
    assert "'piix3-usb-uhc'" in err and "piix3-usb-uhci" in err and "virtfuzz caps-flags" in err
    assert not (data_dir / "variants").exists()  # refused before any variant was made


def test_caps_flags_lists_what_caps_del_accepts(capsys):
    assert main(["caps-flags"]) == 0
    names = capsys.readouterr().out.split()
    # flags the seed's argument turns on (libvirt's QEMU_CAPS_PIIX3_USB_UHCI etc.)
    assert {"piix3-usb-uhci", "pci-ohci", "qemu-xhci", "usb-hub"} <= set(names)
    assert names == sorted(set(names))


@pytest.mark.parametrize("argv", [
    ["export", "--out", "/nonexistent", "--caps-del", "qemu-xhci"],
    ["caps-flags", "--qemu", "7.2.0"],
    ["caps-warm", "--qemu", "6.2.0"],
])
def test_an_option_a_command_does_not_use_is_refused(argv, capsys):
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert "has no effect on this command" in err and argv[-2] in err


def test_unknown_oracle_profile_is_refused(tmp_path, capsys):
    f = _write(tmp_path, domain("x86_64", "pc"))
    assert main(["define", "--backend", "oracle", "--libvirt", "77.7.7", str(f)]) == 2
    assert "77.7.7" in _one_error_line(capsys)


def test_an_emulator_contradicting_caps_del_is_bad_input_naming_the_file(tmp_path, capsys, data_dir):
    f = _write(tmp_path, domain("x86_64", "pc", "<emulator>/opt/qemu/bin/qemu-kvm</emulator>"))
    assert main(["define", "--backend", "oracle", "--caps-del", "piix3-usb-uhci", str(f)]) == 2
    err = _one_error_line(capsys)
    assert str(f) in err and "/opt/qemu/bin/qemu-kvm" in err


@pytest.mark.parametrize("backend", ["oracle", pytest.param("libvirt", marks=pytest.mark.libvirt)])
def test_caps_del_applies_to_a_domain_naming_the_stock_emulator(backend, tmp_path, capsys, data_dir):
    """Without QEMU_CAPS_PIIX3_USB_UHCI, libvirt 9.0.0 gives an i440fx guest's implicit USB
    controller no model (qemuDomainDefaultUSBControllerModel, src/qemu/qemu_domain.c: the pc
    branch picks piix3-uhci only when the capability is present)."""
    f = _write(tmp_path, domain("x86_64", "pc", "<emulator>/usr/bin/qemu-system-x86_64</emulator>"))
    if backend == "libvirt":
        from tests.conftest import _libvirt_backend_or_fail

        _libvirt_backend_or_fail().close()
    assert main(["define", "--backend", backend, "--caps-del", "piix3-usb-uhci", str(f)]) == 0
    root = etree.fromstring(capsys.readouterr().out.encode())
    usb = root.findall("devices/controller[@type='usb']")
    assert len(usb) == 1 and usb[0].get("model") is None
    assert root.findtext("devices/emulator").startswith(str(data_dir / "variants"))


def test_portable_names_the_stock_binary_and_keeps_the_variant_as_data(data_dir):
    from virtfuzz.fakeqemu.variants import emulator_for

    variant = emulator_for("ppc64", None, ("pci-ohci",))
    xml, found = portable(domain("ppc64", "pseries", f"<emulator>{variant}</emulator>"))
    assert "<emulator>/usr/bin/qemu-system-ppc64</emulator>" in xml and found == (None, ("pci-ohci",))
    assert portable(xml) == (xml, None)
    recorded_elsewhere = "/somewhere/else/variants/6.2.0-x86_64-del-usb-hub/qemu-system-x86_64"
    assert portable(f"<emulator>{recorded_elsewhere}</emulator>")[1] == ("6.2.0", ("usb-hub",))
