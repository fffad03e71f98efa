"""Public operations; each returns the plain result types of contract.results.

Outside a memo session (oracle.memo.session) nothing is memoised across calls: the rules and
the profile tables can be changed in-process (bench/mutants.py patches them to measure the
fuzzer), and a memo would serve answers computed under other rules.  A session checks once
that the rules are the shipped ones; then parsed definitions are shared between calls.
"""

from __future__ import annotations

from contract.results import AbiResult, DefineResult, GuestResult, XmlResult
from oracle.capsets import CapSet
from oracle.errors import LibvirtError
from oracle.model import domain_arch
from oracle.pipeline import defined, reparsed
from oracle.profile import DEFAULT_PROFILE, get_profile


def arch_of(xml: str) -> str | None:
    """The domain's ``os/type/@arch`` (None if absent), sharing the parse with the call that follows."""
    return domain_arch(xml)


def define(xml: str, caps: CapSet, abi_update: bool = True, profile: str = DEFAULT_PROFILE) -> DefineResult:
    """virDomainDefineXML + XMLDesc(0) + XMLDesc(MIGRATABLE)."""
    prof = get_profile(profile)
    try:
        d = defined(xml, caps, prof, abi_update)
    except LibvirtError as e:
        return DefineResult(kind="error", error=str(e))
    try:
        mig, mig_err = d.migratable(), None
    except LibvirtError as e:
        mig, mig_err = None, str(e)
    return DefineResult(kind="ok", xml=d.xml(), migratable=mig, migratable_error=mig_err)


def load(xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> XmlResult:
    """A definition re-read by a restarting driver (virDomainObjListLoadConfig): parsed without
    ABI_UPDATE and with SKIP_VALIDATE.  A parse or post-parse error means libvirt skips the
    config (the error is only logged); it is returned as kind 'error' with libvirt's message."""
    prof = get_profile(profile)
    try:
        # parse, caps check, post-parse without ABI_UPDATE (pipeline.reparse). ALLOW_POST_PARSE_FAIL
        # only tolerates a missing-caps post-parse (ret 1); real errors
        # (virDomainDefPostParseCheckFailure ret < 0) make the driver skip the config as well
        d = reparsed(xml, caps, prof)
    except LibvirtError as e:
        return XmlResult(kind="error", error=str(e))
    return XmlResult(kind="ok", xml=d.xml())


def abi(src_xml: str, dst_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> AbiResult:
    from oracle.abicheck import check_abi

    return check_abi(src_xml, dst_xml, caps, get_profile(profile))


def abi_image(src_xml: str, dst_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> AbiResult:
    """ABI check with the source XML as a save image holds it (no ABI_UPDATE): what the real
    backend's ``abi_many`` runs (``abi_image_many``)."""
    from oracle.abicheck import check_abi_image

    return check_abi_image(src_xml, dst_xml, caps, get_profile(profile))


def attach(domain_xml: str, device_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> XmlResult:
    from oracle.hotplug import attach_config

    return attach_config(domain_xml, device_xml, caps, get_profile(profile))


def detach(domain_xml: str, device_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> XmlResult:
    from oracle.hotplug import detach_config

    return detach_config(domain_xml, device_xml, caps, get_profile(profile))


def guest(xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> GuestResult:
    """domainXMLToNative("qemu-argv") reduced to the guest layout (contract.guest_layout): the
    definition parsed as a new one (ABI_UPDATE, validated), then its USB/PCI command line."""
    from oracle.layout import guest_layout

    prof = get_profile(profile)
    try:
        d = defined(xml, caps, prof, True)
        return GuestResult(kind="ok", layout=guest_layout(d.dom, caps, prof))
    except LibvirtError as e:
        return GuestResult(kind="error", error=str(e))
