#!/usr/bin/env python3
"""Record the golden cases of the oracle's per-build profiles from the real builds.

For each build V (default: every installed one), writes the inputs below to
``corpus/cases/oracle-builds/<V>/NAME.xml`` and runs ``scripts/recorder.py define`` with that
build's own python3 and libvirt inside its root filesystem (``unshare`` + ``chroot``, nothing of
virtfuzz's backend code; the host build runs it directly), which writes ``NAME.expected.xml`` +
``NAME.expected.mig.xml`` or ``NAME.expected.err`` beside each input.  Expected outputs therefore
come from the build only; ``tests/test_oracle_profiles.py`` compares the oracle's profile V with them.

    .venv/bin/python scripts/record-profile-golden.py [VERSION...]

``--ops``: the other operations (load, abi, attach, detach) per build.  ``--ops select`` (done once)
copies a sample of the 9.0.0 golden inputs of those operations (every ``load-``/``abi-``/``attach-``/
``detach-`` case, and per arch a few of the held-out ``holdload-``/``rabi``/``ratt``/``rdet`` ones) with
their second inputs (``NAME.dst.xml``, ``NAME.dev.xml``) into ``corpus/cases/build-ops/``, with a
``NAME.json`` context naming where each came from and, per build, the machine types it names that
the build's QEMU does not know (such a case still runs: the build's answer is recorded, but it
tests that machine type, not what the input was made for).  ``--ops [VERSION...]`` runs
``scripts/recorder.py load|abi|attach|detach`` inside each build's root (every installed build,
the host's 9.0.0 included) and stores the answers as ``NAME.<arch>-<V>.expected.xml|.expected.err``
(an accepted ABI check has no file).  ``tests/test_oracle_build_ops.py`` compares profile V with them.

    .venv/bin/python scripts/record-profile-golden.py --ops select
    .venv/bin/python scripts/record-profile-golden.py --ops [VERSION...]
"""

from __future__ import annotations

import json
import os
import re
import shutil
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


ENTER = ('r=$1; shift; mount --bind "$r" "$r" && mount -t proc proc "$r/proc" && '
         'mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" || exit 125; '
         'while [ "$1" != -- ]; do mkdir -p "$r$1" && mount --bind "$1" "$r$1" || exit 125; shift; done; shift; '
         'exec chroot "$r" /usr/bin/python3 "$@"')


def record(info: dict, files: list[Path], visible: Path, op: str = "define", out: Path | None = None) -> str:
    """scripts/recorder.py with the build's own python3 and libvirt (inside its root); ``visible``
    (and ``out``) are bind-mounted at their own paths."""
    recorder = str(REPO / "scripts" / "recorder.py")
    args = [op, *(["--out", str(out)] if out else []), *map(str, files)]
    if info.get("host"):
        cmd = [sys.executable, recorder, *args]
    else:
        binds = [str(visible), str(REPO / "scripts"), *([str(out)] if out else [])]
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", ENTER, "rec", info["root"], *binds, "--",
               recorder, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return r.stdout


# -- load / abi / attach / detach per build ----------------------------------------------------------

OPS_OUT = REPO / "corpus" / "cases" / "build-ops"
GOLDEN_900 = REPO / "corpus" / "cases" / "oracle-golden"
OPS_ALL = ("load", "abi", "attach", "detach")  # every case of these prefixes
OPS_SAMPLED = ("holdload", "rabi", "ratt", "rdet")  # held-out ones: a few per arch
PER_ARCH = 5
SECOND_INPUTS = (".dst.xml", ".dev.xml")
BUILD_QEMU = {"7.0.0": "5.2.0", "9.0.0": "7.2.0", "11.3.0": "10.0.13", "12.9.0": "11.1.3"}
PROVENANCE_WHY = ("the 9.0.0 golden inputs of the load/abi/attach/detach operations answered by every real "
                  "build, so that each oracle profile is checked on those operations against its own build")


def _machines(qemu: str, arch: str) -> dict[str, str]:
    """Machine types and aliases of a build's QEMU for TCG -> the machine type each names, from
    the build's recorded capabilities."""
    text = (REPO / "capsets" / f"qemu-{qemu}" / f"{arch}.xml").read_text()
    out = {}
    for m in re.finditer(r"<machine type='tcg' name='([^']*)'(?: alias='([^']*)')?", text):
        out[m.group(1)] = m.group(1)
        if m.group(2):
            out[m.group(2)] = m.group(1)
    return out


def _golden_inputs() -> dict[str, Path]:
    """NAME -> context file of the 9.0.0 golden inputs (wherever below oracle-golden they live)."""
    return {p.name[: -len(".json")]: p for p in sorted(GOLDEN_900.rglob("*.json"))}


def select_ops() -> int:
    import random

    found = _golden_inputs()
    chosen = [n for n in found if n.split("-", 1)[0] in OPS_ALL]
    rng = random.Random(16)
    for prefix in OPS_SAMPLED:
        by_arch: dict[str, list[str]] = {}
        for n in found:
            if n.split("-", 1)[0] == prefix:
                by_arch.setdefault(json.loads(found[n].read_text())["arch"], []).append(n)
        for arch in sorted(by_arch):
            chosen += sorted(rng.sample(by_arch[arch], min(PER_ARCH, len(by_arch[arch]))))
    OPS_OUT.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        src = found[name].parent
        ctx = json.loads(found[name].read_text())
        keep = {k: ctx[k] for k in ("op", "arch", "machine", "caps_del", "setup_error", "load_failed") if k in ctx}
        xml_files = [src / f"{name}.xml"] + [src / f"{name}{s}" for s in SECOND_INPUTS if (src / f"{name}{s}").exists()]
        for f in xml_files:
            shutil.copyfile(f, OPS_OUT / f.name)
        unknown, differs = {}, {}
        dst = src / f"{name}.dst.xml"
        for v, qemu in BUILD_QEMU.items():
            known = _machines(qemu, ctx["arch"])
            named = sorted({m for f in xml_files for m in re.findall(r"machine='([^']*)'", f.read_text())} - set(known))
            if named:
                unknown[v] = named
            if ctx["op"] == "abi" and dst.exists() and ctx["machine"] in known:
                # the destination was 9.0.0's migratable XML (changed in one detail): it pins the
                # machine type 9.0.0 resolved the source's to; another build's source may resolve
                # elsewhere, and then its ABI check stops at the machine type
                pinned = re.findall(r"machine='([^']*)'", dst.read_text())
                if pinned and pinned[0] != known[ctx["machine"]]:
                    differs[v] = f"source {ctx['machine']} is {known[ctx['machine']]}, destination {pinned[0]}"
        keep["machines_unknown_to_build"] = unknown
        if differs:
            keep["abi_machine_differs"] = differs
        keep["provenance"] = {"source": "scripts/record-profile-golden.py from the 9.0.0 golden inputs",
                              "input": f"corpus/cases/oracle-golden/{name}",
                              "why": PROVENANCE_WHY}
        (OPS_OUT / f"{name}.json").write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n")
    print(f"{len(chosen)} inputs in {OPS_OUT.relative_to(REPO)}")
    return 0


def ops_cases() -> dict[str, dict]:
    return {p.name[: -len(".json")]: json.loads(p.read_text()) for p in sorted(OPS_OUT.glob("*.json"))}


def record_ops(versions: list[str]) -> int:
    import tempfile

    builds = buildroots.installed()
    versions = versions or list(builds)
    cases = ops_cases()
    if not cases:
        print("no inputs: run --ops select first", file=sys.stderr)
        return 1
    for v in versions:
        if v not in builds:
            print(f"libvirt build {v} is not installed (have: {', '.join(builds)})", file=sys.stderr)
            return 1
        n = 0
        with tempfile.TemporaryDirectory(prefix="vf-buildops-", dir="/tmp") as tmp:
            out = Path(tmp)
            os.chmod(out, 0o755)
            for op in OPS_ALL:
                names = [name for name, ctx in cases.items() if ctx["op"] == op]
                if not names:
                    continue
                log = record(builds[v], [OPS_OUT / f"{name}.xml" for name in names], OPS_OUT, op, out)
                n += len(log.splitlines())
                for name in names:
                    infix = f"{cases[name]['arch']}-{v}"
                    for old in OPS_OUT.glob(f"{name}.{infix}.expected.*"):
                        old.unlink()
                    for got in out.glob(f"{name}.expected.*"):
                        shutil.move(str(got), OPS_OUT / got.name.replace(".expected.", f".{infix}.expected.", 1))
        print(f"{v}: {n} recorded")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--ops"]:
        return select_ops() if argv[1:] == ["select"] else record_ops(argv[1:])
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
