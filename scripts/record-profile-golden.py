#!/usr/bin/env python3
"""Record the golden cases of the oracle's per-build profiles from the real builds.

For each build V (default: every installed one but the host's), makes sure the inputs below are
cases of the corpus's ``builds`` topic (``corpus/cases/builds/NAME.xml`` + context, through
virtfuzz.corpus) and records V's answers with ``scripts/recorder.py define`` run with that build's
own python3 and libvirt inside its root filesystem (virtfuzz.recording: ``unshare`` + ``chroot``,
nothing of virtfuzz's backend code; the host build runs it directly), filed as
``NAME.<arch>-<V>.expected.xml`` + ``.expected.mig.xml`` or ``.expected.err``.  Expected outputs
therefore come from the build only; ``tests/test_oracle_profiles.py`` compares the oracle's profile
V with them.

    .venv/bin/python scripts/record-profile-golden.py [VERSION...]

``--ops``: the other operations (load, abi, attach, detach) per build.  ``--ops select`` (done once)
marks a sample of the corpus's 9.0.0 cases of those operations (every ``load-``/``abi-``/``attach-``/
``detach-`` case, and per arch a few of the held-out ``holdload-``/``rabi``/``ratt``/``rdet`` ones) as
answered by every build: their contexts name the builds (``recorded_with``, ``qemu``), the machine
types an input names that a build's QEMU does not know (such a case still runs: the build's answer
is recorded, but it tests that machine type, not what the input was made for) and
``provenance.answers``.  ``--ops [VERSION...]`` runs ``scripts/recorder.py load|abi|attach|detach``
on each build (every installed build, the host's 9.0.0 included) and files the answers beside each
case as ``NAME.<arch>-<V>.expected.xml|.expected.err`` (an accepted ABI check has no file).
``tests/test_oracle_build_ops.py`` compares profile V with them.

    .venv/bin/python scripts/record-profile-golden.py --ops select
    .venv/bin/python scripts/record-profile-golden.py --ops [VERSION...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from virtfuzz import buildroots, corpus  # noqa: E402
from virtfuzz.recording import record_cases  # noqa: E402

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


BUILD_QEMU = {"7.0.0": "5.2.0", "9.0.0": "7.2.0", "11.3.0": "10.0.13", "12.9.0": "11.1.3"}
RECORDED = "libvirt {v} / QEMU {q}, inside the build's root (scripts/record-profile-golden.py, scripts/recorder.py)"
RECORDED_OPS = ("libvirt {v} / QEMU {q}, inside the build's root "
                "(scripts/record-profile-golden.py --ops, scripts/recorder.py)")


def _installed(versions: list[str]) -> dict[str, dict] | None:
    builds = buildroots.installed()
    for v in versions:
        if v not in builds:
            print(f"libvirt build {v} is not installed (have: {', '.join(builds)})", file=sys.stderr)
            return None
    return builds


def _record(cases: list[corpus.CorpusCase], v: str) -> int:
    """V's answers of CASES, filed beside each case."""
    answers = record_cases(cases, v)
    for c in cases:
        corpus.replace_expected(c, v, answers[c.name])
    return len(answers)


# -- define on every build: the builds topic --------------------------------------------------------

def define_cases(v: str) -> list[corpus.CorpusCase]:
    """domains() as cases of the builds topic, each naming build V (created when missing)."""
    have = corpus.by_name()
    out = []
    for name, xml in domains().items():
        c = have.get(name)
        if c is not None and c.input.read_text() != xml:
            raise SystemExit(f"{c.input}: differs from what domains() makes of {name}")
        if c is None:
            ctx = {"op": "define", "arch": re.search(r"arch='([^']+)'", xml)[1],
                   "machine": re.search(r"machine='([^']+)'", xml)[1], "caps_del": [], "qemu": {},
                   "recorded_with": {},
                   "provenance": {"source": "scripts/record-profile-golden.py domains(): machine x USB/PCI device set",
                                  "why": "the same definitions on every real build: the oracle's per-build "
                                         "profiles against each build (tests/test_oracle_profiles.py)"}}
            c = corpus.write_case(None, corpus.BUILDS_TOPIC, name, corpus.with_build(
                ctx, v, RECORDED.format(v=v, q=BUILD_QEMU[v]), BUILD_QEMU[v]), xml)
        elif not c.has(v):
            c = corpus.write_context(c, corpus.with_build(c.context, v, RECORDED.format(v=v, q=BUILD_QEMU[v]),
                                                          BUILD_QEMU[v]))
        out.append(c)
    return out


# -- load / abi / attach / detach per build ----------------------------------------------------------

OPS_ALL = ("load", "abi", "attach", "detach")  # every case of these prefixes
OPS_SAMPLED = ("holdload", "rabi", "ratt", "rdet")  # held-out ones: a few per arch
PER_ARCH = 5
PROVENANCE = ("libvirt 7.0.0, 11.3.0, 12.9.0: scripts/record-profile-golden.py from the 9.0.0 golden inputs "
              "(the 9.0.0 golden inputs of the load/abi/attach/detach operations answered by every real "
              "build, so that each oracle profile is checked on those operations against its own build)")


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


def select_ops() -> int:
    import random

    found = {c.name: c for c in corpus.cases() if c.has("9.0.0")}
    chosen = [n for n in found if n.split("-", 1)[0] in OPS_ALL]
    rng = random.Random(16)
    for prefix in OPS_SAMPLED:
        by_arch: dict[str, list[str]] = {}
        for n in sorted(found):
            if n.split("-", 1)[0] == prefix:
                by_arch.setdefault(found[n].arch, []).append(n)
        for arch in sorted(by_arch):
            chosen += sorted(rng.sample(by_arch[arch], min(PER_ARCH, len(by_arch[arch]))))
    for name in chosen:
        c = found[name]
        ctx = dict(c.context)
        texts = [c.input.read_text()] + [p.read_text() for r in corpus.SECOND if (p := c.second(r))]
        dst = c.second("dst")
        unknown, differs = {}, {}
        for v, qemu in BUILD_QEMU.items():
            known = _machines(qemu, c.arch)
            named = sorted({m for t in texts for m in re.findall(r"machine='([^']*)'", t)} - set(known))
            if named:
                unknown[v] = named
            if c.op == "abi" and dst and c.machine in known:
                # the destination was 9.0.0's migratable XML (changed in one detail): it pins the
                # machine type 9.0.0 resolved the source's to; another build's source may resolve
                # elsewhere, and then its ABI check stops at the machine type
                pinned = re.findall(r"machine='([^']*)'", dst.read_text())
                if pinned and pinned[0] != known[c.machine]:
                    differs[v] = f"source {c.machine} is {known[c.machine]}, destination {pinned[0]}"
        ctx["machines_unknown_to_build"] = unknown
        if differs:
            ctx["abi_machine_differs"] = differs
        for v, q in BUILD_QEMU.items():
            if v != "9.0.0":
                ctx = corpus.with_build(ctx, v, RECORDED_OPS.format(v=v, q=q), q)
        ctx["provenance"] = {**ctx["provenance"], "answers": PROVENANCE}
        corpus.write_context(c, ctx)
    print(f"{len(chosen)} cases marked as answered by every build")
    return 0


def ops_cases() -> list[corpus.CorpusCase]:
    return [c for c in corpus.cases() if c.op in OPS_ALL and all(c.has(v) for v in BUILD_QEMU)]


def record_ops(versions: list[str]) -> int:
    versions = versions or list(BUILD_QEMU)
    cases = ops_cases()
    if not cases:
        print("no cases: run --ops select first", file=sys.stderr)
        return 1
    if _installed(versions) is None:
        return 1
    for v in versions:
        print(f"{v}: {_record(cases, v)} recorded")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--ops"]:
        return select_ops() if argv[1:] == ["select"] else record_ops(argv[1:])
    versions = argv or [v for v in BUILD_QEMU if v != "9.0.0"]
    if _installed(versions) is None:
        return 1
    for v in versions:
        print(f"{v}: {_record(define_cases(v), v)} recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
