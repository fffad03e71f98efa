"""The real-libvirt backend on hand-written cases.

Expectations are libvirt 9.0.0 behaviour with QEMU 7.2 as observed on Debian bookworm and explained
by the cited rules (file and function of libvirt 9.0.0's source); none come from the oracle.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import domain
from virtfuzz.backends import wire
from virtfuzz.backends.libvirt_backend import CHUNK, LibvirtBackend

pytestmark = pytest.mark.libvirt
REPO = Path(__file__).resolve().parent.parent


def usb_controllers(xml: str) -> list[etree._Element]:
    return etree.fromstring(xml.encode()).findall("devices/controller[@type='usb']")


def pci_addr(el: etree._Element) -> tuple[str, str, str, str] | None:
    a = el.find("address[@type='pci']")
    return None if a is None else (a.get("domain"), a.get("bus"), a.get("slot"), a.get("function"))


# --- defaults (qemuDomainDefAddDefaultDevices + qemuDomainControllerDefPostParse, qemu_domain.c) ---

def test_pc_gets_piix3_uhci_at_1_2(libvirt_backend):
    r = libvirt_backend.define(domain("x86_64", "pc"))
    assert r.kind == "ok", r.error
    (usb,) = usb_controllers(r.xml)
    assert usb.get("model") == "piix3-uhci" and usb.get("index") == "0"
    # qemuDomainValidateDevicePCISlotsPIIX3 (qemu_domain_address.c) pins it to 00:01.2
    assert pci_addr(usb) == ("0x0000", "0x00", "0x01", "0x2")
    assert "machine='pc-i440fx-7.2'" in r.xml  # alias resolved to the canonical machine


def test_q35_gets_qemu_xhci_on_a_root_port(libvirt_backend):
    r = libvirt_backend.define(domain("x86_64", "q35"))
    (usb,) = usb_controllers(r.xml)
    assert usb.get("model") == "qemu-xhci"
    assert pci_addr(usb) == ("0x0000", "0x01", "0x00", "0x0")  # behind pcie-root-port index 1
    root = etree.fromstring(r.xml.encode())
    assert root.find("devices/controller[@type='sata']") is not None
    assert root.find("devices/controller[@model='pcie-root']") is not None


def test_pseries_new_definition_gets_qemu_xhci_but_reload_of_modelless_gets_pci_ohci(libvirt_backend):
    # ppc64 model-less USB: ABI_UPDATE && qemu-xhci cap -> qemu-xhci; without ABI_UPDATE -> pci-ohci
    xml = domain("ppc64", "pseries", "<controller type='usb' index='0'/>")
    defined = libvirt_backend.define(xml)
    assert usb_controllers(defined.xml)[0].get("model") == "qemu-xhci"
    loaded = libvirt_backend.load(xml.replace("<devices>", "<devices><emulator>/usr/bin/qemu-system-ppc64</emulator>"))
    assert loaded.kind == "ok", loaded.error
    assert usb_controllers(loaded.xml)[0].get("model") == "pci-ohci"


def test_aarch64_virt_has_no_implicit_usb(libvirt_backend):
    r = libvirt_backend.define(domain("aarch64", "virt"))
    assert r.kind == "ok" and usb_controllers(r.xml) == []
    bad = libvirt_backend.define(domain("aarch64", "virt", "<input type='tablet' bus='usb'/>"))
    assert bad.kind == "error"
    assert bad.error == ("unsupported configuration: USB is disabled for this domain, "
                         "but USB devices are present in the domain XML")


def test_s390x_modelless_usb_becomes_none(libvirt_backend):
    r = libvirt_backend.define(domain("s390x", "s390-ccw-virtio", "<controller type='usb'/>"))
    (usb,) = usb_controllers(r.xml)
    assert usb.get("model") == "none" and pci_addr(usb) is None


# --- migratable XML (qemuDomainDefFormatBufInternal, qemu_domain.c) ---

def test_pc_migratable_drops_implicit_usb_and_pci_root(libvirt_backend):
    r = libvirt_backend.define(domain("x86_64", "pc"))
    assert usb_controllers(r.migratable) == []
    assert "pci-root" not in r.migratable and "<input type='keyboard' bus='ps2'/>" not in r.migratable


def test_q35_migratable_keeps_usb(libvirt_backend):
    r = libvirt_backend.define(domain("x86_64", "q35"))
    assert [c.get("model") for c in usb_controllers(r.migratable)] == ["qemu-xhci"]


def test_migratable_reparses_to_the_same_definition(libvirt_backend):
    for arch, machine in [("x86_64", "pc"), ("x86_64", "q35"), ("ppc64", "pseries")]:
        r = libvirt_backend.define(domain(arch, machine))
        again = libvirt_backend.load(r.migratable)
        assert again.kind == "ok" and again.xml == r.xml, (arch, machine)


# --- ABI verdicts (virDomainDefCheckABIStabilityFlags, domain_conf.c) ---

def test_abi_same_definition_is_compatible(libvirt_backend):
    src = libvirt_backend.define(domain("x86_64", "q35")).xml
    assert libvirt_backend.abi(src, src).kind == "ok"


def test_abi_changed_usb_model_is_reported_with_enum_numbers(libvirt_backend):
    src = libvirt_backend.define(domain("x86_64", "q35")).xml
    r = libvirt_backend.abi(src, src.replace("model='qemu-xhci'", "model='nec-xhci'"))
    assert r.error == "unsupported configuration: Target controller model 9 does not match source 12"


def test_abi_changed_pci_address(libvirt_backend):
    src = libvirt_backend.define(domain("x86_64", "pc")).xml
    dst = src.replace("slot='0x02' function='0x0'", "slot='0x05' function='0x0'")
    r = libvirt_backend.abi(src, dst)
    assert r.kind == "error"
    assert r.error == ("unsupported configuration: Target device PCI address 0000:00:05.0"
                       "does not match source 0000:00:02.0")


def test_abi_controller_count(libvirt_backend):
    src = libvirt_backend.define(domain("x86_64", "q35")).xml
    dst = src.replace("<controller type='sata' index='0'>",
                      "<controller type='usb' index='1' model='qemu-xhci'/><controller type='sata' index='0'>")
    r = libvirt_backend.abi(src, dst)
    assert r.kind == "error" and "Target domain controller count" in r.error


# --- config hotplug (qemuDomainAttachDeviceConfig, qemu_driver.c) ---

def test_config_hotplug_usb_tablet_gets_port_1(libvirt_backend):
    src = libvirt_backend.define(domain("x86_64", "pc")).xml
    r = libvirt_backend.attach(src, "<input type='tablet' bus='usb'/>")
    assert r.kind == "ok", r.error
    tablet = etree.fromstring(r.xml.encode()).find("devices/input[@type='tablet']")
    addr = tablet.find("address")
    assert (addr.get("type"), addr.get("bus"), addr.get("port")) == ("usb", "0", "1")
    back = libvirt_backend.detach(r.xml, "<input type='tablet' bus='usb'/>")
    assert back.kind == "ok" and back.xml == src


def test_third_usb_device_on_piix3_has_no_free_port(libvirt_backend):
    xml = libvirt_backend.define(domain("x86_64", "pc", "<input type='tablet' bus='usb'/>"
                                        "<input type='mouse' bus='usb'/>")).xml
    r = libvirt_backend.attach(xml, "<input type='keyboard' bus='usb'/>")
    assert r.kind == "error" and r.stage == "attach" and "No free USB ports" in r.error


# --- batch independence and crash isolation ---

def test_batch_results_do_not_depend_on_each_other(libvirt_backend):
    a = domain("x86_64", "pc", name="same")
    b = domain("x86_64", "q35", name="same")  # same name and uuid
    alone = [libvirt_backend.define(x).xml for x in (a, b)]
    together = [r.xml for r in libvirt_backend.define_many([a, b, a])]
    assert together == [alone[0], alone[1], alone[0]]


def test_worker_killed_mid_call_loses_nothing(fresh_libvirt_backend, monkeypatch):
    """The worker is SIGKILLed right after the second chunk's request reached its pipe (an event,
    not a timer racing the batch): that chunk is re-run in a fresh worker and every input still
    gets its real result."""
    b = fresh_libvirt_backend
    xmls = [domain("x86_64", "pc", name=f"k{i}", uuid=f"00000000-0000-4000-8000-{i:012d}")
            for i in range(3 * CHUNK)]
    b.define(xmls[0])
    victim = b.worker.proc
    sent: list[str] = []
    real_send = wire.send

    def send_then_kill(fd: int, obj) -> None:
        real_send(fd, obj)
        sent.append(obj[0])
        if sent.count("define_many") == 2 and victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()

    monkeypatch.setattr(wire, "send", send_then_kill)
    results = b.define_many(xmls)
    assert victim.returncode == -signal.SIGKILL and b.restarts >= 1
    assert len(results) == len(xmls) and all(r.kind == "ok" for r in results)
    assert all(f"<name>k{i}</name>" in r.xml for i, r in enumerate(results))  # each its own, in order


def test_crashing_input_becomes_a_crash_result(monkeypatch):
    monkeypatch.setenv("VIRTFUZZ_WORKER_FAULTS", "segv:CRASHME,hang:HANGME")
    monkeypatch.setenv("VIRTFUZZ_LIBVIRT_TIMEOUT", "3")
    b = LibvirtBackend()
    try:
        ok = domain("x86_64", "pc")
        bad = domain("x86_64", "pc", name="CRASHME")
        results = b.define_many([ok, bad, ok])
        assert [r.kind for r in results] == ["ok", "crash", "ok"]
        assert results[1].input == bad and "SIGSEGV" in results[1].error
        # a bounded wait: the 3 s deadline must end the call; 60 s of grace before calling it hung
        got: list = []
        call = threading.Thread(target=lambda: got.append(b.define(domain("x86_64", "pc", name="HANGME"))),
                                daemon=True)
        call.start()
        call.join(60)
        assert not call.is_alive(), "the hung worker was not given up on"
        assert got[0].kind == "timeout"
        assert b.define(ok).kind == "ok"
    finally:
        b.close()


def test_load_batch_with_shared_names_gives_each_its_own_result(libvirt_backend):
    # same name and UUID three times in one driver start-up: each comes back as if loaded alone
    pc = libvirt_backend.define(domain("x86_64", "pc"))
    q35 = libvirt_backend.define(domain("x86_64", "q35"))
    alone = [libvirt_backend.load(x).xml for x in (pc.xml, q35.xml, pc.migratable)]
    together = [r.xml for r in libvirt_backend.load_many([pc.xml, q35.xml, pc.migratable])]
    assert together == alone == [pc.xml, q35.xml, pc.xml]


# --- the /proc/cpuinfo snapshot (virtfuzz.backends.cpuinfo_snapshot) ---

def test_worker_reads_a_cpuinfo_snapshot_and_results_do_not_change(libvirt_backend, monkeypatch):
    """As root the worker binds a snapshot over /proc/cpuinfo; without CAP_SYS_ADMIN it cannot, says
    why, and reads the live file. Either way the results equal those of a live-file worker."""
    xmls = [domain("x86_64", "q35"), domain("aarch64", "virt"), domain("x86_64", "pc")]
    with_snapshot = libvirt_backend.define_many(xmls)
    if os.geteuid() == 0:
        assert libvirt_backend.worker.info["cpuinfo_snapshot"] == "in use"
    else:
        assert libvirt_backend.worker.info["cpuinfo_snapshot"].startswith("unshare(CLONE_NEWNS): ")
    monkeypatch.setenv("VIRTFUZZ_LIVE_CPUINFO", "1")
    with LibvirtBackend() as live:
        assert live.define_many(xmls) == with_snapshot
        assert live.worker.info["cpuinfo_snapshot"] == "disabled by VIRTFUZZ_LIVE_CPUINFO"
    # the host's mount table is untouched: the bind mount lives in the worker's namespace only
    assert not any(" /proc/cpuinfo " in line for line in open("/proc/self/mounts"))


def test_redefine_without_migratable_skips_only_the_migratable_xml(libvirt_backend):
    (full,) = libvirt_backend.define_many([domain("x86_64", "q35")])
    (bare,) = libvirt_backend.define_many([domain("x86_64", "q35")], migratable=False)
    assert full.migratable is not None and bare.migratable is None
    assert bare.xml == full.xml and bare.kind == "ok"


# --- the restart loader: daemon reload in a forked child == a fresh driver start-up ---

def test_daemon_reload_loads_exactly_what_a_fresh_start_up_loads(monkeypatch, private_data_dir_with_caches):
    """Both run virDomainObjListLoadAllConfigs on the config directory (qemuStateInitialize vs
    qemuStateReload, src/qemu/qemu_driver.c); checked on accepted and rejected definitions,
    capability variants included."""
    from fuzz.generate import draw_batch
    from virtfuzz.backends.caps_context import render_variants

    with LibvirtBackend() as b:
        defined = b.define_many([c.xml for c in render_variants(draw_batch(120, 21, 0.3))])
        items = [x for r in defined if r.kind == "ok" for x in (r.xml, r.migratable) if x]
        # stored definitions libvirt cannot load back (known findings: two 'none' USB controllers,
        # a USB controller attached to a USB-disabled domain)
        two_none = b.define_many([(REPO / "corpus/known-findings/2-idempotent-redefine-libvirt-463397864a/"
                                       "input.xml").read_text()])[0]
        disabled = b.define_many([domain("s390x", "s390-ccw-virtio", "<controller type='usb' model='none'/>")])[0]
        attached = b.attach_many([(disabled.xml, "<controller type='usb' model='qemu-xhci'/>")])[0]
        items += [two_none.xml, attached.xml]
    results = {}
    for mode in ("restart", "reload"):
        monkeypatch.setenv("VIRTFUZZ_LOADER", mode)
        with LibvirtBackend() as b:
            results[mode] = b.load_many(items)
            assert b.loader.info["loader"] == ("start-up" if mode == "restart" else "daemon reload")
    assert sum(r.kind == "error" for r in results["restart"]) >= 2
    assert results["reload"] == results["restart"]
