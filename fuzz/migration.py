"""Invariant 6, migration keeps the guest: a definition migrated between two real builds.

For a pair (source build S, destination build D): S defines the domain (ABI_UPDATE) and formats
its migratable XML; D parses that as a migration destination does (no ABI_UPDATE, no validation:
the driver-restart parse) and runs its ABI check of the result against the migratable XML; both
sides' guest layouts are what QEMU would be given (``contract.guest_layout``). Then:

- D's ABI check accepts but the layout differs: a missed ABI break (the guest changes under a
  migration libvirt allows);
- D's ABI check refuses although the layout is identical: a false alarm (a valid migration or
  restore is blocked).

Both are libvirt findings of the pair, party ``libvirt:S->libvirt:D``. A migratable XML that D
refuses, or a guest D cannot start (its QEMU lacks the machine type), is an outcome, counted, not
a finding: new-to-old migrations are not promised to work. Machine aliases resolve to each QEMU's
newest type, so cases are pinned to machine types every QEMU involved knows (QEMU 5.2's, the oldest
build's generation) before they go to the pair.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from contract.backend import Backend
from contract.guest_layout import first_difference, qemu_view
from fuzz.checks import Failure

INVARIANT = "6-migration-keeps-guest"

# machine alias (or its versioned family) -> the type QEMU 5.2 (libvirt 7.0.0's) and every newer QEMU know
PINNED_MACHINES = {
    "pc": "pc-i440fx-5.2", "q35": "pc-q35-5.2", "virt": "virt-5.2", "pseries": "pseries-5.2",
    "s390-ccw-virtio": "s390-ccw-virtio-5.2",
}
_MACHINE = re.compile(r"(<type\b[^>]*\bmachine=)(['\"])([^'\"]*)\2")


def pin_machine(xml: str) -> str | None:
    """The case with its machine type pinned to the common generation, or None if it has another
    machine (a versioned type of another generation, or one not every build's QEMU has)."""
    m = _MACHINE.search(xml)
    if m is None:
        return None
    machine = m.group(3)
    pinned = PINNED_MACHINES.get(machine)
    if pinned is None:
        return xml if machine in PINNED_MACHINES.values() else None
    return xml[:m.start(3)] + pinned + xml[m.end(3):]


def check_pair(src: Backend, dst: Backend, party: str, xmls: Sequence[str],
               outcomes: Counter[str] | None = None) -> list[tuple[int, Failure]]:
    """Migrate each of ``xmls`` from ``src`` to ``dst``; (index into xmls, failure) per finding."""
    outcomes = outcomes if outcomes is not None else Counter()
    return check_destination(dst, party, source_side(src, xmls, outcomes), outcomes)


# what the source side gives a destination: (index into xmls, migratable XML, source guest layout)
SourceSide = list[tuple[int, str, dict]]


def source_side(src: Backend, xmls: Sequence[str], outcomes: Counter[str]) -> SourceSide:
    """Define each of ``xmls`` on ``src``: the migratable XML and guest layout of those it accepts
    (one source side serves every destination it is migrated to). An input outside the oracle's
    vocabulary (``unsupported``) is counted as ``oracle-declines``, never as a refusal."""
    defined = src.define_many(list(xmls))
    ok = [i for i, d in enumerate(defined) if d.kind == "ok" and d.migratable is not None]
    declined = sum(1 for d in defined if d.kind == "unsupported")
    outcomes["source-refuses"] += len(xmls) - len(ok) - declined
    if declined:
        outcomes["oracle-declines"] += declined
    if not ok:
        return []
    guests = src.guest_many([defined[i].xml or "" for i in ok])
    out: SourceSide = []
    for i, g in zip(ok, guests, strict=True):
        if g.kind == "ok":
            out.append((i, defined[i].migratable or "", g.layout or {}))
        elif g.kind == "unsupported":
            outcomes["oracle-declines"] += 1
        else:
            outcomes["source-cannot-start"] += 1
    return out


def check_destination(dst: Backend, party: str, sources: SourceSide,
                      outcomes: Counter[str]) -> list[tuple[int, Failure]]:
    """``dst`` parses each source's migratable XML as a migration destination, runs its ABI check
    against it and builds its guest; both guests compared as QEMU gets them (``qemu_view``: ``-usb``
    as the device QEMU creates for it on that machine, as ``virtfuzz migrate`` compares them)."""
    if not sources:
        return []
    loaded = dst.load_many([m for _, m, _ in sources])
    accepted = [(i, m, sg, r) for (i, m, sg), r in zip(sources, loaded, strict=True) if r.kind == "ok"]
    declined = sum(1 for r in loaded if r.kind == "unsupported")
    outcomes["destination-refuses"] += len(sources) - len(accepted) - declined
    if declined:
        outcomes["oracle-declines"] += declined
    if not accepted:
        return []
    abis = dst.abi_many([(m, r.xml or "") for _, m, _, r in accepted])
    # an oracle destination starts the guest as it parsed it (virtfuzz.commands.migrate._ImageAbi)
    dst_guests = getattr(dst, "guest_incoming_many", dst.guest_many)([r.xml or "" for _, _, _, r in accepted])
    fails: list[tuple[int, Failure]] = []
    for (i, _, sg, _), abi, dg in zip(accepted, abis, dst_guests, strict=True):
        if "unsupported" in (abi.kind, dg.kind):
            outcomes["oracle-declines"] += 1
            continue
        if dg.kind != "ok":
            outcomes["destination-cannot-start"] += 1
            continue
        outcomes["migrated"] += 1
        diff = first_difference(qemu_view(sg), qemu_view(dg.layout or {}))
        if abi.kind == "ok" and diff is not None:
            outcomes["missed-abi-break"] += 1
            fails.append((i, Failure(INVARIANT, party, f"ABI check accepts but the guest changes: {diff}",
                                     _diff_class(diff), None, None)))
        elif abi.kind != "ok" and diff is None:
            outcomes["false-abi-alarm"] += 1
            fails.append((i, Failure(INVARIANT, party, f"ABI check refuses an identical guest: {abi.error}",
                                     None, None, abi.error)))
    return fails


def _diff_class(diff: str) -> str:
    """A layout difference without its values: 'device at pci.0:2.0 (pci-ohci) only in the first'
    -> 'guest/device at pci.0:N (pci-ohci) only in the first/', 'device id=usb: addr ...' ->
    'guest/device id=usb/addr'. The bus stays (it names a bus); the slot.function or port is
    blanked: it varies with the rest of the guest, not with the behaviour."""
    head, _, rest = diff.partition(": ")
    prop = rest.split(" ", 1)[0] if rest else ""
    head = re.sub(r"(\bat [^:\s]+:)[0-9.]+", r"\1N", head)
    return f"guest/{re.sub(r'#[0-9]+', '#N', head)}/{prop}"
