"""Pure oracle tests (no libvirt): every corpus case with libvirt 9.0.0's answer (recorded from the
real libvirt 9.0.0 / QEMU 7.2 by scripts/record-golden.py and scripts/recorder.py) replayed on the
oracle's 9.0.0 profile. The corpus is read through virtfuzz.corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from oracle import OracleInputError, OracleUnsupported
from tests.conftest import libvirt_missing
from virtfuzz import corpus

LIBVIRT = "9.0.0"
GOLDEN = {c.name: c for c in corpus.cases() if c.has(LIBVIRT)}
DECLINED_FILE = Path(__file__).resolve().parent / "oracle_declined.txt"
# How many golden cases the oracle declines (outside its modelled vocabulary, or malformed XML whose
# libxml2 error text it does not model): every one listed with its reason in oracle_declined.txt.
# Changing this number is a reviewed edit, with a reason.
DECLINED_COUNT = 53


def _declined() -> dict[str, str]:
    lines = [ln for ln in DECLINED_FILE.read_text().splitlines() if ln and not ln.startswith("#")]
    return dict(ln.split("\t", 1) for ln in lines)


DECLINED = _declined()


def _cases() -> list[str]:
    return sorted(GOLDEN)


def run_case(name: str) -> tuple[str, dict, dict]:
    """Run one golden case through the oracle; returns (status, expected, got)."""
    case = GOLDEN[name]
    ctx = case.context
    caps = oracle.capset_for(case.arch, case.qemu_for(LIBVIRT), caps_del=case.caps_del)
    xml = case.input.read_text()
    recorded = case.read_expected(LIBVIRT)
    exp = {key: recorded[kind] for key, kind in (("xml", "xml"), ("mig", "mig.xml"), ("err", "err"),
                                                  ("migerr", "mig.err")) if kind in recorded}
    for k in ("err", "migerr"):
        if k in exp:
            exp[k] = exp[k].rstrip("\n")
    got: dict = {}
    op = ctx["op"]
    if op == "define":
        r = oracle.define(xml, caps, profile=ctx.get("profile", "9.0.0"))
        if r.kind == "ok":
            got = {"xml": r.xml, "mig": r.migratable} if r.migratable_error is None else \
                {"xml": r.xml, "migerr": r.migratable_error}
        else:
            got = {"err": r.error}
    elif op == "load":
        r = oracle.load(xml, caps)
        if ctx.get("load_failed") and exp.get("err") == "(config not loaded)":  # older recordings
            got = {"err": "(config not loaded)"} if r.kind == "error" else {"xml": r.xml}
        else:
            got = {"xml": r.xml} if r.kind == "ok" else {"err": r.error}
    elif op in ("attach", "detach"):
        dev = case.second("dev").read_text()
        fn = oracle.attach if op == "attach" else oracle.detach
        r = fn(xml, dev, caps)
        got = {"xml": r.xml} if r.kind == "ok" else {"err": r.error}
    elif op == "abi":
        dstp = case.second("dst")
        dst = dstp.read_text() if dstp else xml  # no dst when the source fails to define
        r = oracle.abi(xml, dst, caps)
        got = {} if r.kind == "ok" else {"err": r.error}
    return ("same" if got == exp else "diff"), exp, got


def _decline_reason(name: str) -> str | None:
    """Why the oracle declines the case, or None when it answers."""
    try:
        run_case(name)
    except OracleUnsupported as e:
        return f"unsupported: {e}"
    except OracleInputError as e:
        if "malformed XML" not in str(e):
            raise
        return str(e)
    return None


@pytest.mark.parametrize("name", _cases())
def test_golden(name: str) -> None:
    if name in DECLINED:  # pinned: the oracle must still decline it, for the same reason
        got = _decline_reason(name)
        assert got is not None, f"{name} is answered now: check it and remove it from {DECLINED_FILE.name}"
        assert got == DECLINED[name]
        return
    status, exp, got = run_case(name)  # declining an unlisted case raises: a failure
    for key in ("err", "xml", "mig", "migerr"):
        assert got.get(key) == exp.get(key), key


def test_declined_golden_cases_are_exactly_the_pinned_ones() -> None:
    assert len(DECLINED) == DECLINED_COUNT, f"{DECLINED_FILE.name} lists {len(DECLINED)}, pinned {DECLINED_COUNT}"
    declined = {n: r for n in _cases() if (r := _decline_reason(n)) is not None}
    more = sorted(set(declined) - set(DECLINED))
    fewer = sorted(set(DECLINED) - set(declined))
    assert not more, f"the oracle declines {len(declined)} golden cases, {len(more)} more than the pinned " \
                     f"{DECLINED_COUNT}:\n" + "\n".join(f"{n}: {declined[n]}" for n in more)
    assert not fewer, f"the oracle now answers {len(fewer)} pinned declined cases (update " \
                      f"{DECLINED_FILE.name} and DECLINED_COUNT): " + ", ".join(fewer)
    assert len(declined) == DECLINED_COUNT


def test_capset_for_errors() -> None:
    with pytest.raises(OracleInputError, match="unknown arch"):
        oracle.capset_for("vax")
    with pytest.raises(OracleInputError, match="known:"):
        oracle.capset_for("x86_64", "1.0.0")
    with pytest.raises(OracleInputError, match="caps_del"):
        oracle.capset_for("x86_64", caps_del=["no-such-flag"])


def test_capset_flags_and_machines() -> None:
    cs = oracle.capset_for("x86_64")
    assert "qemu-xhci" in cs.flags
    assert cs.canonical_machine("q35") == "pc-q35-7.2"
    assert "qemu-xhci" not in cs.without({"qemu-xhci"}).flags
    assert oracle.capset_for("x86_64", "6.2.0").canonical_machine("pc") == "pc-i440fx-6.2"


def test_caps_del_removes_derived_property_flags() -> None:
    """Deleting device flag F in real libvirt also removes the flags probed from F's properties
    (F.<prop>): usb-redir -> usb-redir.filter, pcie-root-port -> pcie-root-port.hotplug."""
    cs = oracle.capset_for("x86_64")
    assert {"usb-redir.filter", "pcie-root-port.hotplug"} <= cs.flags
    for flag, derived in (("usb-redir", "usb-redir.filter"), ("pcie-root-port", "pcie-root-port.hotplug")):
        cut = oracle.capset_for("x86_64", caps_del=[flag])
        assert flag not in cut.flags and derived not in cut.flags
        assert cs.flags - cut.flags == {f for f in cs.flags if f == flag or f.startswith(flag + ".")}
        assert derived not in cs.without(flag).flags
    # a flag that merely shares a prefix (no dot) is kept
    assert "usb-redir" in cs.without("usb-redi").flags


def test_malformed_xml_is_input_error() -> None:
    with pytest.raises(OracleInputError):
        oracle.define("<domain", oracle.capset_for("x86_64"))


def test_profile_unknown() -> None:
    with pytest.raises(OracleInputError, match="unknown profile"):
        oracle.define("<domain type='qemu'/>", oracle.capset_for("x86_64"), profile="0.1")


def test_libvirt_test_capsets_found() -> None:
    from oracle.capsets import libvirt_src

    if not (libvirt_src() / "tests" / "qemucapabilitiesdata").is_dir():
        libvirt_missing(f"libvirt 9.0.0 source tree not present under {libvirt_src()} "
                        "(scripts/fetch-libvirt-source.sh)")
    cs = oracle.capset_for("aarch64", "7.0.0")
    assert cs.arch == "aarch64" and cs.canonical_machine("virt") == "virt-7.0"


def _error_class(message: str) -> str:
    return re.sub(r"'[^']*'", "''", re.sub(r"\d+", "N", message.strip()))


RECORDED_ERROR_CLASSES = {_error_class(c.read("err", LIBVIRT)) for c in GOLDEN.values()
                          if "err" in c.expected_for(LIBVIRT)}

SNIPPETS = [
    "<controller type='usb' index='0' model='qemu-xhci'/>", "<controller type='usb' model='ehci'/>",
    "<controller type='usb' index='0' model='none'/>", "<controller type='pci' model='pcie-root-port'/>",
    "<controller type='pci' index='1' model='pci-bridge'/>", "<input type='tablet' bus='usb'/>",
    "<input type='keyboard'/>", "<hub type='usb'/>", "<memballoon model='none'/>",
    "<redirdev bus='usb' type='tcp'><source mode='bind' host='127.0.0.1' service='4000'/></redirdev>",
    "<input type='mouse' bus='usb'><address type='usb' bus='0' port='1'/></input>",
]
MACHINES = [("x86_64", "pc"), ("x86_64", "q35"), ("ppc64", "pseries"), ("aarch64", "virt"),
            ("s390x", "s390-ccw-virtio"), ("riscv64", "virt"), ("armv7l", "virt"), ("i686", "q35")]


@given(st.sampled_from(MACHINES), st.lists(st.sampled_from(SNIPPETS), max_size=6))
@settings(max_examples=150, deadline=None)
def test_oracle_total_on_grammar(machine: tuple[str, str], snippets: list[str]) -> None:
    """On the modelled grammar the oracle always answers (never raises), and whatever it stores
    it can load again and ABI-check against itself."""
    arch, mach = machine
    xml = (f"<domain type='qemu'><name>h</name><uuid>00000000-0000-0000-0000-000000000001</uuid>"
           f"<memory>65536</memory><os><type arch='{arch}' machine='{mach}'>hvm</type></os>"
           f"<devices>{''.join(snippets)}</devices></domain>")
    caps = oracle.capset_for(arch)
    r = oracle.define(xml, caps)
    if r.kind == "ok":
        assert r.xml.startswith("<domain type='qemu'>") and r.xml.endswith("</domain>\n")
        # libvirt keeps every device it is given and never adds a tablet or a redirdev; it adds
        # USB hubs when the controller's ports run out (qemuDomainUSBAddressAddHubs,
        # src/qemu/qemu_domain_address.c), so hubs may only grow
        for tag in ("<redirdev bus='usb'", "<input type='tablet'"):
            assert r.xml.count(tag) == xml.count(tag), tag
        assert r.xml.count("<hub type='usb'") >= xml.count("<hub type='usb'")
        assert oracle.load(r.xml, caps).kind == "ok"
        if r.migratable is not None:
            assert oracle.abi(xml, r.migratable, caps).kind == "ok"
    else:
        assert r.kind == "error", r
        # one line, in the form libvirt's virerror.c gives it: "<class of error>: <detail>"
        assert r.error and "\n" not in r.error
        # and one the real libvirt has given: its class (numbers and quoted values blanked) is
        # among the errors recorded from libvirt in the golden corpus
        assert _error_class(r.error) in RECORDED_ERROR_CLASSES, r.error
