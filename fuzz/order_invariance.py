"""Invariant 8, order does not matter: permuting the devices of a fully addressed definition.

Once libvirt has stored a definition every device in it carries an explicit address (PCI slot, USB
port, ...), so the order of the ``<devices>`` children should no longer decide anything about the
guest. For an accepted case the stored XML's devices are permuted (a seeded shuffle; the
``<emulator>`` stays first) and the permutation is defined as a new definition. Then:

- the permutation must be accepted, and its stored definition equal the original up to order
  (each device, canonicalised as in ``fuzz.hotplug_effect``, the same multiset);
- its guest layout (``virtfuzz guest``) must equal the original's;
- libvirt's ABI check of the permutation against the original's migratable XML must accept it.

Only definitions whose devices all carry an ``<address>`` are permuted (devices without one, such
as a ``ps2`` input or ``<audio>``, have nothing that would pin them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lxml import etree

from contract.backend import Backend
from contract.guest_layout import first_difference
from fuzz.checks import Failure
from fuzz.hotplug_effect import _devices

INVARIANT = "8-order-does-not-matter"
_PARSER = etree.XMLParser(remove_blank_text=True)
# devices libvirt never gives an address, whatever the definition says
_NO_ADDRESS = {"emulator", "audio", "graphics", "video", "input"}


def _root_or_none(d: etree._Element) -> bool:
    """A PCI root bus or a ``none`` USB controller: controllers that never get an address."""
    return d.tag == "controller" and (d.get("model") in ("pci-root", "pcie-root")
                                      or (d.get("type") == "usb" and d.get("model") == "none"))


def permuted(xml: str, rng: random.Random) -> str | None:
    """The definition with its devices shuffled, or None when a device lacks an address or the
    shuffle would change nothing."""
    root = etree.fromstring(xml.encode(), _PARSER)
    devs = root.find("devices")
    if devs is None:
        return None
    kids = [d for d in devs if isinstance(d.tag, str)]
    movable = [d for d in kids if d.tag != "emulator"]
    if len(movable) < 2:
        return None
    for d in movable:
        if d.find("address") is None and d.tag not in _NO_ADDRESS and not _root_or_none(d):
            return None
    order = movable[:]
    rng.shuffle(order)
    if [id(d) for d in order] == [id(d) for d in movable]:
        order.reverse()
    for d in movable:
        devs.remove(d)
    for d in order:
        devs.append(d)
    return etree.tostring(root, encoding="unicode")


def check_order(backend: Backend, party: str, stored: Sequence[str], migratable: Sequence[str],
                seed: int) -> list[tuple[int, Failure, str]]:
    """Invariant 8 on accepted definitions (``stored`` XML and their ``migratable`` XML): (index,
    failure, the permuted XML that shows it) per finding."""
    rng = random.Random(seed)
    todo = [(i, p) for i, x in enumerate(stored) if (p := permuted(x, rng)) is not None]
    return check_permutations(backend, party, stored, migratable, todo)


def check_permutations(backend: Backend, party: str, stored: Sequence[str], migratable: Sequence[str],
                       todo: list[tuple[int, str]]) -> list[tuple[int, Failure, str]]:
    """Invariant 8 for given permutations: (index into ``stored``, its permuted XML) pairs (a
    finding replays with the permutation it recorded)."""
    if not todo:
        return []
    again = backend.define_many([p for _, p in todo], migratable=False)
    ok = [(i, p, r) for (i, p), r in zip(todo, again, strict=True)]
    fails: list[tuple[int, Failure, str]] = []
    perm = dict(todo)
    accepted = []
    for i, _, r in ok:
        if r.kind != "ok":
            fails.append((i, Failure(INVARIANT, party, f"permuted devices rejected: {r.error}", None, None, r.error),
                          perm[i]))
        elif _devices(r.xml or "") != _devices(stored[i]):
            gone = _devices(stored[i]) - _devices(r.xml or "")
            what = next(iter(gone), "")[:80] if gone else "a device"
            fails.append((i, Failure(INVARIANT, party, f"permuted definition stores other devices: {what}",
                                     "order/devices"), perm[i]))
        else:
            accepted.append((i, r.xml or ""))
    if not accepted:
        return fails
    guests = backend.guest_many([stored[i] for i, _ in accepted] + [x for _, x in accepted])
    n = len(accepted)
    abis = backend.abi_many([(migratable[i], x) for i, x in accepted])
    for k, (i, _) in enumerate(accepted):
        g0, g1 = guests[k], guests[n + k]
        if g0.kind == "ok" and g1.kind == "ok":
            diff = first_difference(g0.layout or {}, g1.layout or {})
            if diff is not None:
                fails.append((i, Failure(INVARIANT, party, f"permuted devices change the guest: {diff}",
                                         "order/guest"), perm[i]))
                continue
        if abis[k].kind != "ok":
            # one class whatever the device pair: libvirt's ABI check compares device lists by
            # position (virDomainDefCheckABIStabilityFlags), so any reordering of a list is refused
            fails.append((i, Failure(INVARIANT, party, f"ABI check refuses the permuted definition: {abis[k].error}",
                                     "order/abi", None, abis[k].error), perm[i]))
    return fails

