"""Draw batches of cases from the hypothesis strategies, reproducibly from a seed.

A batch is drawn by running a collecting ``@given`` function in the generate phase only: that
keeps hypothesis' generation quality (its distribution, edge-case bias) while the checking is done
in batches against the backends (see ``fuzz.observe``).
"""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from fuzz import strategies as S
from fuzz import vocabulary as voc
from fuzz.observe import Case
from virtfuzz.backends.caps_context import CapsContext

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


@cache
def _context(version: str, caps_del: tuple[str, ...]) -> CapsContext:
    return CapsContext(version, caps_del)


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


@st.composite
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
    if not deletable or draw(st.booleans()):
        return draw(st.sampled_from(versions)), ()
    host = next((v for v in versions if v.endswith("-host")), versions[-1])
    return host, (draw(st.sampled_from(deletable)),)


@st.composite
def cases(draw: st.DrawFn, hotplug_rate: float = 0.5, variant_rate: float = 0.0) -> Case:
    spec = draw(S.domain_specs())
    device = None
    if draw(st.floats(0, 1)) < hotplug_rate:
        device = draw(S.device_xml(spec.arch))
    xml = S.to_xml(spec)
    if variant_rate and draw(st.floats(0, 1)) < variant_rate:
        variant = draw(capability_variants(spec.arch))
        if variant is not None:
            xml = _context(*variant).prepare(xml)  # the variant's fake QEMU becomes <emulator>
    return Case(xml=xml, device=device)


def draw_batch(n: int, seed: int, variant_rate: float = 0.0) -> list[Case]:
    out: list[Case] = []

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases(variant_rate=variant_rate))
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out
