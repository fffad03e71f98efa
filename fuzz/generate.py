"""Draw batches of cases from the hypothesis strategies, reproducibly from a seed.

A batch runs the strategies' composite definitions with a ``RandomDraw`` over ``random.Random(seed)``
(see ``fuzz.strategies``) instead of hypothesis' engine. Why: the engine's bookkeeping per draw
(spans, choice tree, mutating earlier examples) made up almost all of the ~3.5 ms a case cost, in a
per-case budget of ~6 ms; the checking is done in batches against the backends anyway (see
``fuzz.observe``), so nothing of the engine is used here but its choices. The definitions, and so
what a case can contain, are the same ones hypothesis runs in the tests and the atheris target.
"""

from __future__ import annotations

import random
from functools import cache

from hypothesis import strategies as st

from fuzz import strategies as S
from fuzz import vocabulary as voc
from fuzz.observe import Case

# Capability flags a variant may delete: the ones libvirt's USB and PCI defaulting depends on
# (qemuDomainDefAddDefaultDevices, qemuDomainControllerDefPostParse, qemuDomainDeviceCalculatePCIConnectFlags).
VARIANT_FLAGS = ("piix3-usb-uhci", "piix4-usb-uhci", "usb-ehci", "ich9-usb-ehci1", "vt82c686b-usb-uhci",
                 "pci-ohci", "nec-usb-xhci", "qemu-xhci", "usb-hub", "usb-redir", "pcie-root-port",
                 "pcie-pci-bridge", "pci-bridge")


@cache
def _versions(arch: str) -> tuple[str, ...]:
    from virtfuzz.fakeqemu.variants import available_versions

    try:
        return tuple(available_versions(arch))
    except Exception:
        return ()


@cache
def _deletable(arch: str) -> tuple[str, ...]:
    """The variant flags the installed QEMU offers for ``arch`` (deleting an absent flag is a no-op)."""
    present = voc.caps_flags(arch)
    return tuple(f for f in VARIANT_FLAGS if f in present)


def all_capability_variants() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every (arch, QEMU version, deleted flags) that ``capability_variants`` can draw.

    Finite on purpose (see ``capability_variants``), so ``virtfuzz caps-warm`` can have libvirt
    probe each one once at set-up instead of inside a campaign's time budget.
    """
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for arch in voc.ARCHES:
        versions = _versions(arch)
        out += [(arch, v, ()) for v in versions]
        if versions:
            host = next((v for v in versions if v.endswith("-host")), versions[-1])
            out += [(arch, host, (f,)) for f in _deletable(arch)]
    return out


@S.composite
def capability_variants(draw: st.DrawFn, arch: str) -> tuple[str, tuple[str, ...]] | None:
    """A recorded QEMU version for ``arch``, or the installed QEMU's recording with one flag deleted.

    The space is kept small on purpose (about 25 variants per arch): every new variant costs a
    QEMU probe (~0.2 s) per libvirt root the first time, after which libvirt's capability cache
    (shared across runs on the machine) serves it.
    """
    versions = _versions(arch)
    if not versions:
        return None
    deletable = _deletable(arch)
    if not deletable or draw(S.booleans()):
        return draw(S.sampled(versions)), ()
    host = next((v for v in versions if v.endswith("-host")), versions[-1])
    return host, (draw(S.sampled(deletable)),)


@S.composite
def cases(draw: st.DrawFn, hotplug_rate: float = 0.5, variant_rate: float = 0.0) -> Case:
    spec = draw(S.domain_specs())
    device = None
    if draw(S.unit_floats()) < hotplug_rate:
        device = draw(S.device_xml(spec.arch))
    variant = None
    if variant_rate and draw(S.unit_floats()) < variant_rate:
        variant = draw(capability_variants(spec.arch))
    return Case(xml=S.to_xml(spec), device=device, variant=variant)


def draw_batch(n: int, seed: int, variant_rate: float = 0.0) -> list[Case]:
    """``n`` cases of :func:`cases`; the same ``seed`` gives the same batch (for the same code).
    A case drawn for a capability variant names it (``Case.variant``) and keeps the domain as
    generated: who runs it renders the variant for its build (``render_variants``)."""
    draw = S.RandomDraw(random.Random(seed))
    strategy = cases(variant_rate=variant_rate)
    return [draw(strategy) for _ in range(n)]
