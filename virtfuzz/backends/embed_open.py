"""Open libvirt's embedded QEMU driver so that its capability cache stays valid across processes.

At start-up the driver records the host's CPUID (``virQEMUCapsCacheNew`` in libvirt 9.0.0
``src/qemu/qemu_capabilities.c`` calls ``virCPUDataGetHost``), and every cached capability entry
carries the CPUID of the process that probed it; ``virQEMUCapsIsValid`` throws an entry away when
the two differ ("host cpuid changed"). The CPUID instruction answers per core (leaf 1 reports the
core's APIC ID), so a process that started on another core than the prober re-probed every
emulator: ~2-4 s per x86_64 binary and variant, at random (seen on a 2-core machine: a flaky
test, and slow worker start-ups). Opening the driver on one fixed core (the lowest this process may
use) makes every process record the same CPUID. Stdlib + libvirt only: it also runs inside builds.
"""

from __future__ import annotations

import os

import libvirt


def open_embedded(root: str) -> libvirt.virConnect:
    """``libvirt.open("qemu:///embed?root=ROOT")`` with the driver's start-up on a fixed core."""
    try:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(allowed)})
    except (AttributeError, OSError):
        allowed = None
    try:
        return libvirt.open(f"qemu:///embed?root={root}")
    finally:
        if allowed is not None:
            os.sched_setaffinity(0, allowed)
