"""Public operations; each returns the plain result types of virtfuzz.results."""

from __future__ import annotations

from oracle.capsets import CapSet
from oracle.errors import LibvirtError
from oracle.fmt import format_domain
from oracle.migratable import make_migratable
from oracle.pipeline import parse_and_define
from oracle.profile import DEFAULT_PROFILE, get_profile
from virtfuzz.results import AbiResult, DefineResult, XmlResult


def define(xml: str, caps: CapSet, abi_update: bool = True, profile: str = DEFAULT_PROFILE) -> DefineResult:
    """virDomainDefineXML + XMLDesc(0) + XMLDesc(MIGRATABLE)."""
    prof = get_profile(profile)
    try:
        dom = parse_and_define(xml, caps, prof, abi_update)
    except LibvirtError as e:
        return DefineResult(kind="error", error=str(e))
    return DefineResult(kind="ok", xml=format_domain(dom),
                        migratable=format_domain(make_migratable(dom), migratable=True))


def load(xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> XmlResult:
    """A definition re-read without VIR_DOMAIN_DEF_PARSE_ABI_UPDATE (driver restart)."""
    r = define(xml, caps, abi_update=False, profile=profile)
    return XmlResult(kind=r.kind, xml=r.xml, error=r.error)


def abi(src_xml: str, dst_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> AbiResult:
    from oracle.abicheck import check_abi

    return check_abi(src_xml, dst_xml, caps, get_profile(profile))


def attach(domain_xml: str, device_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> XmlResult:
    from oracle.hotplug import attach_config

    return attach_config(domain_xml, device_xml, caps, get_profile(profile))


def detach(domain_xml: str, device_xml: str, caps: CapSet, profile: str = DEFAULT_PROFILE) -> XmlResult:
    from oracle.hotplug import detach_config

    return detach_config(domain_xml, device_xml, caps, get_profile(profile))
