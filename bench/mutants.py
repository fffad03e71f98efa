"""Deliberately wrong variants of oracle rules (test-only), for measuring what the fuzzer detects.

Each mutant is a context manager that changes one rule of the oracle in this process: a value in
the 9.0.0 profile data, or one predicate/function the rules use. Nothing here is imported by the
oracle itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

from oracle import abicheck, capsets, migratable, pci
from oracle.profile import get_profile


@contextmanager
def _data(key: str, sub: str | None, value) -> Iterator[None]:
    data = get_profile("9.0.0").data
    target = data[key] if sub is not None else data
    k = sub if sub is not None else key
    old = target[k]
    target[k] = value
    try:
        yield
    finally:
        target[k] = old


@contextmanager
def _swap_usb_enum(a: str, b: str) -> Iterator[None]:
    models = get_profile("9.0.0").data["usb_models"]
    old = list(models)
    i, j = models.index(a), models.index(b)
    models[i], models[j] = models[j], models[i]
    try:
        yield
    finally:
        models[:] = old


@contextmanager
def _without_cap(flag: str) -> Iterator[None]:
    real = capsets.CapSet.has

    def has(self, name: str) -> bool:
        return False if name == flag else real(self, name)

    with mock.patch.object(capsets.CapSet, "has", has):
        yield


MUTANTS: dict[str, Callable[[], contextmanager]] = {
    "piix3-uhci has 3 ports": lambda: _data("usb_ports", "piix3-uhci", 3),
    "qemu-xhci has 8 ports": lambda: _data("usb_ports", "qemu-xhci", 8),
    "pci-ohci has 2 ports": lambda: _data("usb_ports", "pci-ohci", 2),
    "USB hub has 4 ports": lambda: _data("usb_hub_ports", None, 4),
    "xhci port limit 8": lambda: _data("xhci_maxports", None, 8),
    "USB enum: nec-xhci <-> qemu-xhci": lambda: _swap_usb_enum("nec-xhci", "qemu-xhci"),
    "migratable keeps the i440fx USB controller": lambda: mock.patch.object(migratable, "is_i440fx",
                                                                            lambda d: False),
    "PCI rules do not know i440fx": lambda: mock.patch.object(pci, "is_i440fx", lambda d: False),
    "PCI rules do not know q35": lambda: mock.patch.object(pci, "is_q35", lambda d: False),
    "qemu-xhci capability ignored": lambda: _without_cap("qemu-xhci"),
    "piix3-usb-uhci capability ignored": lambda: _without_cap("piix3-usb-uhci"),
    "ABI check skips controller count": lambda: mock.patch.object(abicheck, "_count", lambda *a: None),
}
