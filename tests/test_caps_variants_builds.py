"""``--qemu``/``--caps-del`` on every build: each build's libvirt is served recordings of its own
QEMU, made through that libvirt (``scripts/record-qemu-replies.py --libvirt V``: the replies follow
its probe order), with flag deletions from that libvirt's own ``qemu_capabilities.c``
(``virtfuzz/fakeqemu/data/flags-libvirt-V.json``; 12.9.0 borrows 11.3.0's, see
``virtfuzz.fakeqemu.flags.BORROWED``).  The real build and the oracle's profile of it must give
the same answer for a capability variant.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import oracle
from tests.test_builds import require_build
from virtfuzz import buildroots
from virtfuzz.fakeqemu import flags, probe, variants

pytestmark = pytest.mark.libvirt

REPO = Path(__file__).resolve().parent.parent
BUILDS = ["7.0.0", "11.3.0", "12.9.0"]
VIRTFUZZ = [sys.executable, "-m", "virtfuzz.cli"]
PC = ("<domain type='qemu'><name>pc-nouhci</name><uuid>c7a5fdbd-cdaf-9455-926a-000000000001</uuid>"
      "<memory unit='KiB'>65536</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>\n")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*VIRTFUZZ, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("version", BUILDS)
def test_each_build_has_recordings_of_its_own_qemu(version):
    qemu = oracle.get_profile(version).data["qemu"]
    spec = buildroots.specs()[version]
    recs = variants.recordings(version)
    assert sorted(recs) == sorted(spec.arches)
    for arch, by_version in recs.items():
        assert list(by_version) == [f"{qemu}{variants.HOST_SUFFIX}"], (arch, by_version)
        assert by_version[f"{qemu}{variants.HOST_SUFFIX}"].libvirt == version
    assert flags.mutations_for("piix3-usb-uhci", version) == [{"op": "del-type", "name": "piix3-usb-uhci"}]


@pytest.mark.parametrize("version", BUILDS)
def test_caps_del_piix3_uhci_same_on_build_and_profile(version, tmp_path):
    """x86_64 pc whose QEMU lacks piix3-usb-uhci: 7.0.0 and 11.3.0 keep the implicit USB controller
    without a model; 12.9.0 refuses ("Unable to determine model", its 11.9.0 model selection)."""
    require_build(version)
    f = tmp_path / "pc.xml"
    f.write_text(PC)
    opts = ["--libvirt", version, "--caps-del", "piix3-usb-uhci", str(f)]
    real = _cli("define", "--backend", "libvirt", *opts)
    ora = _cli("define", "--backend", "oracle", *opts)
    assert (real.returncode, real.stdout, real.stderr) == (ora.returncode, ora.stdout, ora.stderr)
    if version == "12.9.0":
        assert real.returncode == 1
        assert real.stderr.strip() == "internal error: Unable to determine model for USB controller idx=0"
        return
    assert real.returncode == 0, real.stderr
    assert f"libvirt-{version}-" in real.stdout and "-del-piix3-usb-uhci/qemu-system-x86_64" in real.stdout
    assert "<controller type='usb' index='0'>" in real.stdout and "model='piix3-uhci'" not in real.stdout


@pytest.mark.parametrize("version", BUILDS)
def test_qemu_option_names_the_builds_own_qemu(version, tmp_path):
    require_build(version)
    f = tmp_path / "pc.xml"
    f.write_text(PC)
    qemu = oracle.get_profile(version).data["qemu"]
    plain = _cli("define", "--backend", "libvirt", "--libvirt", version, str(f))
    for backend in ("libvirt", "oracle"):
        r = _cli("define", "--backend", backend, "--libvirt", version, "--qemu", qemu, str(f))
        assert r.returncode == 0, r.stderr
        # the fake QEMU replaying the build's probe gives what the real QEMU gives (but its path)
        assert r.stdout.replace(variants.emulator_for("x86_64", qemu, libvirt=version),
                                "/usr/bin/qemu-system-x86_64") == plain.stdout


@pytest.mark.parametrize("version", BUILDS)
def test_replaying_a_builds_recording_gives_its_real_probe(version):
    """The build's libvirt probing the fake QEMU caches what it cached probing the real QEMU
    (KVM-only parts aside: domains are type='qemu'); scripts/record-qemu-replies.py checks it for
    every arch when recording."""
    info = require_build(version)
    work = Path(tempfile.mkdtemp(prefix="vft-", dir="/tmp"))
    work.chmod(0o755)
    try:
        (real,) = probe.probe(work / "r", [("x86_64", "/usr/bin/qemu-system-x86_64")], build=info, binds=[str(work)])
        (fake,) = probe.probe(work / "f", [("x86_64", variants.emulator_for("x86_64", libvirt=version))],
                              build=info, binds=[str(work)])
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    assert real["caps"] and fake["caps"], (real["error"], fake["error"])
    assert probe.normalise(real["caps"], drop_kvm=True) == probe.normalise(fake["caps"], drop_kvm=True)


USB_FLAGS = ["piix3-usb-uhci", "qemu-xhci", "nec-usb-xhci", "usb-hub", "pci-ohci", "usb-redir", "ich9-usb-ehci1"]


@pytest.mark.parametrize("version", BUILDS)
def test_usb_flag_deletions_take_on_the_build(version):
    """Each USB flag deleted through the build's flag table (12.9.0: 11.3.0's, borrowed) is gone
    from what the build's libvirt derives, and nothing else is but the deleted device's own
    property flags (``usb-redir.filter`` goes with ``usb-redir``, 7.0.0's ``nec-usb-xhci-ports``
    with ``nec-usb-xhci``) (x86_64 variants, one probe each)."""
    info = require_build(version)
    work = Path(tempfile.mkdtemp(prefix="vft-", dir="/tmp"))
    work.chmod(0o755)
    try:
        emulators = [("x86_64", variants.emulator_for("x86_64", libvirt=version))]
        emulators += [("x86_64", variants.emulator_for("x86_64", caps_del=[f], libvirt=version)) for f in USB_FLAGS]
        results = probe.probe(work / "r", emulators, build=info, binds=[str(work)])
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    base = probe.caps_flags(results[0]["caps"])
    for flag, res in zip(USB_FLAGS, results[1:], strict=True):
        assert res["caps"], res["error"]
        got = probe.caps_flags(res["caps"])
        gone = base - got
        assert flag in gone and not got - base, (flag, sorted(gone), sorted(got - base))
        assert all(f == flag or f.startswith((flag + ".", flag + "-")) for f in gone), (flag, sorted(gone))


SWEEP = {"piix3-usb-uhci": ("x86_64", "i686"), "qemu-xhci": ("aarch64", "armv7l", "riscv64", "ppc64")}


@pytest.mark.parametrize("version", BUILDS)
@pytest.mark.parametrize("flag", sorted(SWEEP))
def test_variant_agreement_on_the_builds_define_cases(version, flag, tmp_path):
    """The builds' define inputs (corpus/cases/builds, those of the arches the flag matters to)
    defined with --caps-del FLAG: the real build and its profile give identical files
    (stored XML, migratable XML, error), none declined by the oracle."""
    require_build(version)
    inputs = sorted(str(p) for p in (REPO / "corpus" / "cases" / "builds").glob("*.xml")
                    if ".expected." not in p.name and p.name.split("-", 1)[0] in SWEEP[flag]
                    and p.name.count(".") == 1)
    assert len(inputs) > 20
    out = {}
    for backend in ("libvirt", "oracle"):
        r = _cli("define", "--backend", backend, "--libvirt", version, "--caps-del", flag,
                 "--out", str(tmp_path / backend), *inputs)
        assert r.returncode == 0, r.stderr
        out[backend] = {p.name: p.read_text() for p in (tmp_path / backend).iterdir()}
    assert not [n for n in out["oracle"] if n.endswith(".unsupported")]
    assert out["libvirt"] == out["oracle"]


def test_caps_flags_lists_each_builds_table_without_the_flags_it_does_not_follow(capsys):
    from virtfuzz.cli import main

    for version in BUILDS:
        assert main(["caps-flags", "--libvirt", version]) == 0
        names = set(capsys.readouterr().out.split())
        assert "piix3-usb-uhci" in names and "qemu-xhci" in names
        assert names == set(flags.known_flags(version)) - set(flags.unhonoured(version))
        for flag, why in flags.unhonoured(version).items():
            with pytest.raises(variants.VariantError, match=f"cannot be honoured on libvirt {version}"):
                variants.check_flags([flag], version)
            assert why
