#!/usr/bin/env python3
"""Record the golden cases of the oracle's per-build profiles from the real builds.

For each build V (default: every installed one), writes the inputs below to
``corpus/cases/oracle-builds/<V>/NAME.xml`` and runs ``scripts/recorder.py define`` with that
build's own python3 and libvirt inside its root filesystem (``unshare`` + ``chroot``, nothing of
virtfuzz's backend code; the host build runs it directly), which writes ``NAME.expected.xml`` +
``NAME.expected.mig.xml`` or ``NAME.expected.err`` beside each input.  Expected outputs therefore
come from the build only; ``tests/test_oracle_profiles.py`` compares the oracle's profile V with them.

    .venv/bin/python scripts/record-profile-golden.py [VERSION...]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from virtfuzz import buildroots  # noqa: E402

OUT = REPO / "corpus" / "cases" / "oracle-builds"

MACHINES = [("x86_64", "pc"), ("x86_64", "q35"), ("x86_64", "pc-i440fx-5.2"), ("i686", "pc"), ("i686", "q35"),
            ("aarch64", "virt"), ("armv7l", "virt"), ("ppc64", "pseries"), ("s390x", "s390-ccw-virtio"),
            ("riscv64", "virt")]
DEVICES = {
    "bare": "",
    "usb": "<controller type='usb'/>",
    "nousb": "<controller type='usb' model='none'/>",
    "uhci": "<controller type='usb' index='0' model='piix3-uhci'/>",
    "piix4ports": "<controller type='usb' index='0' model='piix4-uhci' ports='4'/>",
    "vt82c": "<controller type='usb' index='0' model='vt82c686b-uhci'/>",
    "xhci": "<controller type='usb' index='0' model='qemu-xhci' ports='8'/>",
    "tablet": "<input type='tablet' bus='usb'/>",
    "bridges": "<controller type='pci' index='1' model='pci-bridge'/><controller type='usb' model='nec-xhci'/>",
    "ports": "<controller type='pci' index='1' model='pcie-root-port'/>"
             "<controller type='pci' index='2' model='pcie-root-port'/><controller type='usb' model='qemu-xhci'/>",
    "ich9": "<controller type='usb' model='ich9-ehci1'/><controller type='usb' model='ich9-uhci1'/>"
            "<controller type='usb' model='ich9-uhci2'/>",
    "hubs": "<controller type='usb' model='qemu-xhci' ports='4'/><hub type='usb'/><hub type='usb'/>"
            "<input type='mouse' bus='usb'/><input type='keyboard' bus='usb'/>",
}
EXTRA = {
    # s390x: a USB controller with a PCI (zPCI) address and no model
    "s390x-s390-ccw-virtio-usbpci": ("s390x", "s390-ccw-virtio", "<controller type='usb'><address type='pci' "
                                     "domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></controller>"),
    # q35 with an explicit watchdog of the iTCO model and another action
    "x86_64-q35-itco-poweroff": ("x86_64", "q35", "<watchdog model='itco' action='poweroff'/>"),
}


def domains() -> dict[str, str]:
    out = {}
    items = [(f"{a}-{m}-{d}".replace(".", "_"), a, m, dev) for a, m in MACHINES for d, dev in DEVICES.items()]
    items += [(n, a, m, dev) for n, (a, m, dev) in EXTRA.items()]
    for i, (name, arch, machine, devices) in enumerate(items):
        out[name] = (f"<domain type='qemu'><name>{name}</name>"
                     f"<uuid>c7a5fdbd-cdaf-9455-926a-{i:012d}</uuid><memory unit='KiB'>65536</memory>"
                     f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os>"
                     f"<devices>{devices}</devices></domain>\n")
    return out


def record(info: dict, files: list[Path], visible: Path) -> str:
    """scripts/recorder.py with the build's own python3 and libvirt (inside its root)."""
    recorder = str(REPO / "scripts" / "recorder.py")
    if info.get("host"):
        cmd = [sys.executable, recorder, "define", *map(str, files)]
    else:
        script = ('r=$1; v=$2; c=$3; shift 3; mount --bind "$r" "$r" && mount -t proc proc "$r/proc" && '
                  'mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" && '
                  'mkdir -p "$r$v" "$r$c" && mount --bind "$v" "$r$v" && mount --bind "$c" "$r$c" && '
                  'exec chroot "$r" /usr/bin/python3 "$@"')
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "rec", info["root"], str(visible),
               str(REPO / "scripts"), recorder, "define", *map(str, files)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return r.stdout


def main(argv: list[str]) -> int:
    builds = buildroots.installed()
    versions = argv or [v for v in builds if v != "9.0.0"]
    for v in versions:
        if v not in builds:
            print(f"libvirt build {v} is not installed (have: {', '.join(builds)})", file=sys.stderr)
            return 1
        d = OUT / v
        d.mkdir(parents=True, exist_ok=True)
        for name, xml in domains().items():
            (d / f"{name}.xml").write_text(xml)
        log = record(builds[v], sorted(p for p in d.glob("*.xml") if ".expected" not in p.name), OUT)
        print(f"{v}: {len(log.splitlines())} recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
