"""Tests of the fake QEMU (virtfuzz.fakeqemu).

The ``libvirt`` tests drive the real libvirt 9.0.0 embedded QEMU driver in a subprocess and
compare the capabilities it caches after probing the fake with libvirt's own expected
``caps_*.xml``. Normalised before comparing (see ``probe.normalise``): the host/path-dependent
fields emulator, qemuctime, qemumoddirmtime, selfctime, selfvers, microcodeVersion,
hostCPUSignature, kernelVersion, cpudata, kvmSupportsNesting, kvmSupportsSecureGuest; and, when
the fake reported KVM off (non-native arches on this host), the KVM-only parts: the ``kvm``
flag, every ``type='kvm'`` element (hostCPU, cpu, machine) and hypervCapabilities.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import libvirt_missing, seed_data_dir
from virtfuzz.fakeqemu import compiled, flags, mutations, probe, replies, schema, server, variants

CAPSDATA = variants.libvirt_src() / "tests" / "qemucapabilitiesdata"
LIBVIRT_SETS = sorted(p.name[len("caps_"):-len(".replies")] for p in CAPSDATA.glob("caps_*.replies"))
HOST_ARCHES = ["x86_64", "i686", "ppc64", "aarch64", "armv7l", "s390x", "riscv64"]
X86_72 = CAPSDATA / "caps_7.2.0.x86_64.replies"


def _need(ok: bool, what: str) -> None:
    """Missing prerequisites fail (CI must see it); VIRTFUZZ_SKIP_LIBVIRT=1 skips locally."""
    if not ok:
        libvirt_missing(what)


def _need_libvirt_data() -> None:
    _need(len(LIBVIRT_SETS) == 29,
          f"libvirt 9.0.0 test data missing under {CAPSDATA}; run scripts/fetch-libvirt-source.sh")


def _need_libvirt() -> None:
    _need_libvirt_data()
    try:
        import libvirt  # noqa: F401
    except ImportError as exc:
        _need(False, f"libvirt-python unavailable: {exc}")


@pytest.fixture
def root():
    """An embed root short enough for libvirt's QMP socket path (tmp_path can be too deep)."""
    path = probe.short_dir()
    yield path / "root"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    path = seed_data_dir(tmp_path / "data")
    monkeypatch.setenv("VIRTFUZZ_DATA_DIR", str(path))
    return path


# --- recordings -------------------------------------------------------------------------------


def test_replies_round_trip_all_libvirt_sets():
    _need_libvirt_data()
    for name in LIBVIRT_SETS:
        path = CAPSDATA / f"caps_{name}.replies"
        assert replies.format_conversation(replies.load(path)) == path.read_text(), name


def test_replies_sections():
    _need_libvirt_data()
    conv = replies.load(X86_72)
    assert [e.command for e in conv.tcg] == [
        "qmp_capabilities", "query-cpu-definitions", "query-cpu-model-expansion",
        "query-cpu-model-expansion", "query-machines",
    ]
    # independently of the parser: the main section is every exchange before the second
    # qmp_capabilities (the TCG process's), counted on the file's text
    text = X86_72.read_text()
    second = text.index('"execute": "qmp_capabilities"', text.index('"execute": "qmp_capabilities"') + 1)
    assert conv.main[0].command == "qmp_capabilities"
    assert len(conv.main) == text[:second].count('"execute": ')
    assert len(conv.main) + len(conv.tcg) == text.count('"execute": ')
    riscv = replies.load(CAPSDATA / "caps_5.2.0.riscv64.replies")
    assert riscv.tcg == []  # recorded without KVM: one process only


@pytest.mark.parametrize("text", ['{"execute": "a"}', '{"return": {}}', "[1]", '{"execute": "a"} {"foo": 1}'])
def test_replies_rejects_malformed(text):
    with pytest.raises(replies.RepliesError):
        replies.parse(text)


@pytest.mark.parametrize("arch", HOST_ARCHES)
def test_host_recordings_present(arch):
    conv = replies.load(variants.HOST_REPLIES / "qemu-7.2.0" / f"{arch}.replies")
    version = next(e.reply["return"] for e in conv.main if e.command == "query-version")
    assert version["qemu"]["major"] == 7 and version["qemu"]["minor"] == 2
    assert bool(conv.tcg) == (arch in ("x86_64", "i686"))  # KVM only for the native arches


# --- mutations ---------------------------------------------------------------------------------


def _conv() -> replies.Conversation:
    _need_libvirt_data()
    return replies.load(X86_72)


def _types(conv):
    return {t["name"] for e in conv.main if e.command == "qom-list-types" for t in e.reply["return"]}


def test_del_type_and_its_property_queries():
    conv = _conv()
    assert "virtio-net-pci" in _types(conv)
    assert mutations.apply_one(conv, {"op": "del-type", "name": "virtio-net-pci"}) >= 2
    assert "virtio-net-pci" not in _types(conv)
    props = [e for e in conv.main if (e.arguments or {}).get("typename") == "virtio-net-pci"]
    assert props and all(e.reply["error"]["class"] == "DeviceNotFound" for e in props)


def test_del_command_machine_property_version():
    conv = _conv()
    assert mutations.apply_one(conv, {"op": "del-command", "name": "query-vnc"}) == 2  # commands + schema
    names = {c["name"] for e in conv.main if e.command == "query-commands" for c in e.reply["return"]}
    assert "query-vnc" not in names
    assert mutations.apply_one(conv, {"op": "del-machine", "name": "pc"}) == 2  # alias, both sections
    machines = [m for e in conv.exchanges() if e.command == "query-machines" for m in e.reply["return"]]
    assert all(m.get("alias") != "pc" for m in machines)
    assert mutations.apply_one(conv, {"op": "del-property", "type": "virtio-blk-pci", "name": "scsi"}) == 1
    assert mutations.apply_one(conv, {"op": "del-property", "type": "*-machine", "name": "nosuch"}) == 0
    mutations.apply_one(conv, {"op": "set-version", "version": "9.1.2"})
    version = next(e.reply["return"] for e in conv.main if e.command == "query-version")
    assert version == {"qemu": {"micro": 2, "minor": 1, "major": 9}, "package": "v9.1.2"}


def test_mutation_errors():
    conv = _conv()
    with pytest.raises(mutations.MutationError, match="unknown mutation op"):
        mutations.apply_one(conv, {"op": "explode"})
    with pytest.raises(mutations.MutationError, match="missing field"):
        mutations.apply_one(conv, {"op": "del-property", "name": "x"})


def test_schema_delete_follows_libvirt_queries():
    conv = _conv()
    entries = next(e.reply["return"] for e in conv.main if e.command == "query-qmp-schema")
    for path in ("blockdev-add/arg-type/+file/drop-cache", "screendump/arg-type/format/^png",
                 "device_add/$json-cli-hotplug", "query-display-options/ret-type/+dbus"):
        entries, n = schema.delete(entries, path)
        assert n == 1, path
        entries, n = schema.delete(entries, path)
        assert n == 0, path  # gone


# --- flag table --------------------------------------------------------------------------------


def test_flag_table_is_derived_from_libvirt_source():
    _need_libvirt_data()
    assert flags.build_table(variants.libvirt_src()) == flags.table()


# Flags libvirt 9.0.0 sets without a QMP source (src/qemu/qemu_capabilities.c):
# virQEMUCapsInitQMPBasicArch (no-acpi, no-hpet, aarch64-off, gic-version, aes-key-wrap,
# dea-key-wrap, loadparm), virQEMUCapsInitQMPVersionCaps (enable-fips), virQEMUCapsInitProcessCaps
# (ncr53c90), the host's KVM (kvm). "ivshmem" is in the type table ({"ivshmem", ...}) but QEMU >= 4.2
# has no such type, so no 9.0.0 test set shows it.
NOT_FROM_QMP = {"no-acpi", "no-hpet", "aarch64-off", "gic-version", "aes-key-wrap", "dea-key-wrap", "loadparm",
                "enable-fips", "ncr53c90", "kvm"}


def test_flag_table_content():
    assert flags.mutations_for("piix3-usb-uhci") == [{"op": "del-type", "name": "piix3-usb-uhci"}]
    assert {"op": "del-type", "name": "virtio-scsi-ccw"} in flags.mutations_for("virtio-scsi-pci")
    assert flags.mutations_for("migrate-rdma") == [{"op": "del-migration-cap", "name": "rdma-pin-all"}]
    assert flags.mutations_for("tpm-tis") == [{"op": "del-tpm", "kind": "model", "name": "tpm-tis"}]
    assert flags.mutations_for("cpu-max") == [{"op": "del-cpu-model", "name": "max"}]
    assert flags.mutations_for("incremental-backup") == flags.mutations_for("blockdev-reopen")  # derived
    # Independently of the table: the flags libvirt's own 9.0.0 test data shows any QEMU setting
    # (union of tests/qemucapabilitiesdata/caps_*.xml), less those libvirt sets from the arch,
    # version or host rather than from a QMP answer, plus one table flag no 9.0.0 test set has.
    _need_libvirt_data()
    recorded = {f for p in CAPSDATA.glob("caps_*.xml") for f in re.findall(r"<flag name='([^']+)'/>", p.read_text())}
    assert set(flags.known_flags()) == (recorded - NOT_FROM_QMP) | {"ivshmem"}
    for flag in NOT_FROM_QMP:
        with pytest.raises(flags.FlagError):
            flags.mutations_for(flag)
    for ms in flags.table()["flags"].values():
        assert all(m["op"] in mutations.OPS for m in ms)
    with pytest.raises(flags.FlagError):
        flags.mutations_for("kvm")


def test_incremental_compile_equals_fresh_compile():
    """Variants re-serialise only replaced replies; that must equal compiling from scratch."""
    path = variants.HOST_REPLIES / "qemu-7.2.0" / "x86_64.replies"
    by_op: dict[str, list[str]] = {}
    for flag in flags.known_flags():
        by_op.setdefault(flags.mutations_for(flag)[0]["op"], []).append(flag)
    for flag in [f for fs in by_op.values() for f in fs[:3]]:  # every kind of mutation
        ms = flags.mutations_for(flag)
        conv = replies.load(path)
        mutations.apply(conv, ms)
        assert compiled.compile_recording(str(path), ms) == compiled.compile_conversation(conv), flag


# --- variants ----------------------------------------------------------------------------------


def test_variant_names_and_errors(data_dir):
    _need_libvirt_data()
    assert variants.variant_for("x86_64", "7.2.0", ["qemu-xhci", "piix3-usb-uhci"]).name == (
        "7.2.0-x86_64-del-piix3-usb-uhci-del-qemu-xhci"
    )
    assert variants.variant_for("x86_64").name == "7.2.0-host-x86_64"
    assert variants.variant_for("aarch64", "7.2.0").recording.version == "7.2.0-host"  # alias
    assert variants.available_versions("x86_64")[0] == "4.2.0"
    assert "7.2.0-host" in variants.available_versions("x86_64")
    with pytest.raises(variants.VariantError, match=r"available: 4\.2\.0, 5\.0\.0"):
        variants.emulator_for("x86_64", "3.1.0")
    with pytest.raises(variants.VariantError, match="known arches: .*x86_64"):
        variants.emulator_for("mips")
    with pytest.raises(variants.VariantError,
                       match=r"unknown --caps-del flag 'kvm' \(closest: .*\); see `virtfuzz caps-flags`"):
        variants.emulator_for("x86_64", caps_del=["kvm"])
    with pytest.raises(variants.VariantError, match=r"'piix3-usb-uhc' \(closest: piix3-usb-uhci, "):
        variants.check_flags(["piix3-usb-uhc"])


def test_wrapper_is_stable_and_readable(data_dir):
    _need_libvirt_data()
    path = Path(variants.emulator_for("x86_64", "7.2.0", ["piix3-usb-uhci"]))
    assert path == data_dir / "variants" / "7.2.0-x86_64-del-piix3-usb-uhci" / "qemu-system-x86_64"
    st = path.stat()
    assert st.st_mode & 0o755 == 0o755 and (path.parent / variants.COMPILED).stat().st_mode & 0o444 == 0o444
    assert variants.emulator_for("x86_64", "7.2.0", ["piix3-usb-uhci"]) == str(path)
    # untouched: libvirt's cache stays valid (a rewrite is an atomic replace: a new inode, whatever
    # the clock's granularity, so no sleep is needed to see it)
    again = path.stat()
    assert (again.st_ino, again.st_ctime_ns) == (st.st_ino, st.st_ctime_ns)
    path.write_text("#!/bin/sh\nexit 1\n")  # a stale wrapper is repaired
    variants.emulator_for("x86_64", "7.2.0", ["piix3-usb-uhci"])
    assert "--compiled" in path.read_text()


def _start_fake(wrapper: str, tmp: Path, accel: str = "kvm:tcg") -> tuple[subprocess.CompletedProcess, socket.socket]:
    sock, pid = tmp / "m.sock", tmp / "p.pid"
    proc = subprocess.run(
        [wrapper, "-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", f"none,accel={accel}",
         "-qmp", f"unix:{sock},server=on,wait=off", "-pidfile", str(pid), "-daemonize"],
        capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/"},
    )
    client = socket.socket(socket.AF_UNIX)
    client.connect(str(sock))
    return proc, client


def _qmp(f, client, execute, **arguments):
    req = {"execute": execute, "id": "t-1"}
    if arguments:
        req["arguments"] = arguments
    client.sendall(json.dumps(req).encode() + b"\r\n")
    return json.loads(f.readline())


def test_fake_speaks_qmp_without_libvirt(data_dir, tmp_path):
    _need_libvirt_data()
    wrapper = variants.emulator_for("x86_64", "7.2.0")
    proc, client = _start_fake(wrapper, tmp_path)  # bounded: subprocess.run's timeout fails it
    assert proc.returncode == 0 and proc.stderr == b""
    launcher = int((tmp_path / "p.pid").read_text())
    with pytest.raises(ProcessLookupError):  # the pid file names the reaped launcher (see server.py)
        os.kill(launcher, 0)
    f = client.makefile("rb")
    assert json.loads(f.readline())["QMP"]["version"]["qemu"] == {"micro": 0, "minor": 2, "major": 7}
    assert _qmp(f, client, "qmp_capabilities") == {"return": {}, "id": "t-1"}
    assert _qmp(f, client, "query-target")["return"] == {"arch": "x86_64"}
    assert _qmp(f, client, "no-such-command")["error"]["class"] == "CommandNotFound"
    assert _qmp(f, client, "device-list-properties", typename="nosuch")["error"]["class"] == "DeviceNotFound"
    f.close()
    client.close()
    log = (Path(wrapper).parent / "unmatched.log").read_text()
    assert "unmatched: no-such-command" in log and "'typename': 'nosuch'" in log


def test_fake_refuses_to_run_guests(data_dir):
    _need_libvirt_data()
    proc = subprocess.run([variants.emulator_for("x86_64", "7.2.0"), "-m", "64"], capture_output=True)
    assert proc.returncode == 1 and b"only serves libvirt's capability probe" in proc.stderr


def test_responder_without_kvm_answers_from_tcg_section():
    conv = _conv()
    tables = compiled.compile_conversation(conv)
    r = server.Responder(tables, "tcg")
    assert not r.kvm
    kvm_state = json.loads(r.answer("query-kvm", None, None))["return"]
    assert kvm_state == {"enabled": False, "present": True}
    host = json.loads(r.answer("query-cpu-model-expansion", {"type": "static", "model": {"name": "host"}}, 1))
    tcg_max = next(e.reply for e in conv.tcg if e.command == "query-cpu-model-expansion")
    assert host == {**tcg_max, "id": 1}


# --- the real libvirt --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """Probe every libvirt recording and every host recording once, in one libvirt process."""
    _need_libvirt()
    tmp = tmp_path_factory.mktemp("fakeqemu")
    short = probe.short_dir()
    old = os.environ.get("VIRTFUZZ_DATA_DIR")
    os.environ["VIRTFUZZ_DATA_DIR"] = str(seed_data_dir(tmp / "data"))
    try:
        jobs = {}
        for name in LIBVIRT_SETS:
            version, arch = name.split(".", 3)[:3], name.rsplit(".", 1)[1]
            jobs[name] = (arch, variants.emulator_for(arch, ".".join(version)))
        for arch in HOST_ARCHES:
            jobs[f"host-{arch}"] = (arch, variants.emulator_for(arch))
        results = probe.probe(short / "root", list(jobs.values()))
    finally:
        if old is None:
            os.environ.pop("VIRTFUZZ_DATA_DIR", None)
        else:
            os.environ["VIRTFUZZ_DATA_DIR"] = old
    yield {name: {**res, "root": short / "root"} for name, res in zip(jobs, results, strict=True)}
    shutil.rmtree(short, ignore_errors=True)


@pytest.mark.libvirt
@pytest.mark.parametrize("name", LIBVIRT_SETS or ["missing"])
def test_libvirt_caps_match_libvirt_expected(probed, name):
    res = probed[name]
    assert res["error"] is None and res["caps"], res["error"]
    expected = (CAPSDATA / f"caps_{name}.xml").read_text()
    kvm = probe.has_kvm(res["caps"])
    assert kvm == (name.endswith("x86_64") and os.access("/dev/kvm", os.R_OK | os.W_OK))
    assert probe.normalise(res["caps"], drop_kvm=not kvm) == probe.normalise(expected, drop_kvm=not kvm)
    assert not (Path(res["emulator"]).parent / "unmatched.log").exists()


@pytest.mark.libvirt
@pytest.mark.parametrize("arch", HOST_ARCHES)
def test_libvirt_probes_host_recordings_without_misses(probed, arch):
    res = probed[f"host-{arch}"]
    assert res["error"] is None and res["caps"], res["error"]
    assert not (Path(res["emulator"]).parent / "unmatched.log").exists()
    committed = variants.REPO_ROOT / "capsets" / "qemu-7.2.0" / f"{arch}.xml"
    if committed.exists():  # caps of the real QEMU 7.2, recorded from libvirt separately
        assert probe.normalise(res["caps"]) == probe.normalise(committed.read_text())


@pytest.mark.libvirt
def test_libvirt_reuses_cached_caps(probed):
    res = probed["7.2.0.x86_64"]
    cache = probe.cache_file(res["root"], res["emulator"])
    before = cache.stat().st_mtime_ns
    (again,) = probe.probe(res["root"], [("x86_64", res["emulator"])])  # a new libvirt process
    assert again["error"] is None
    assert cache.stat().st_mtime_ns == before  # a re-probe would have rewritten it


def _domain(emulator: str, machine: str) -> str:
    return (f"<domain type='qemu'><name>x</name><memory>65536</memory><os><type arch='x86_64' "
            f"machine='{machine}'>hvm</type></os><devices><emulator>{emulator}</emulator></devices></domain>")


def _usb_models(xml: str) -> list[str]:
    return [m or "(none)" for m in re.findall(r"<controller type='usb' index='\d+'(?: model='([^']+)')?", xml)]


@pytest.mark.libvirt
def test_deleted_flag_changes_libvirts_usb_default(data_dir, root):
    _need_libvirt()
    base = probe.define(root, _domain(variants.emulator_for("x86_64"), "pc"))
    assert _usb_models(base) == ["piix3-uhci"]
    dele = probe.define(root, _domain(variants.emulator_for("x86_64", caps_del=["piix3-usb-uhci"]), "pc"))
    assert _usb_models(dele) and "piix3-uhci" not in _usb_models(dele)


# One flag per kind of QMP source: deleting it must make libvirt drop it and keep the rest.
SAMPLE_FLAGS = ["piix3-usb-uhci", "set-action", "virtio-blk.queue-size", "spice-gl",
                "migrate-rdma", "tpm-crb", "blockdev.nbd.tls-hostname", "machine.pseries.cap-htm",
                "memory-backend-file.reserve"]


@pytest.mark.libvirt
def test_deleted_flags_disappear(data_dir, root):
    _need_libvirt()
    jobs = [("x86_64", variants.emulator_for("x86_64"))]
    jobs += [("ppc64" if "pseries" in f else "x86_64",
              variants.emulator_for("ppc64" if "pseries" in f else "x86_64", caps_del=[f])) for f in SAMPLE_FLAGS]
    jobs.append(("ppc64", variants.emulator_for("ppc64")))
    res = probe.probe(root, jobs)
    base = {"x86_64": probe.caps_flags(res[0]["caps"]), "ppc64": probe.caps_flags(res[-1]["caps"])}
    for flag, (arch, _), r in zip(SAMPLE_FLAGS, jobs[1:-1], res[1:-1], strict=True):
        assert r["error"] is None, (flag, r["error"])
        got = probe.caps_flags(r["caps"])
        assert flag in base[arch] and flag not in got, flag
        assert base[arch] - got == {flag}, (flag, base[arch] - got)


def test_probe_normalise_detects_differences():
    _need_libvirt_data()
    xml = (CAPSDATA / "caps_7.2.0.x86_64.xml").read_text()
    assert probe.normalise(xml) != probe.normalise(xml.replace("<flag name='piix3-usb-uhci'/>", ""))
    other_build = xml.replace("<selfvers>0</selfvers>", "<selfvers>9000000</selfvers>")
    assert probe.normalise(other_build) == probe.normalise(xml)


def test_no_stray_fakes_left(data_dir, tmp_path):
    _need_libvirt_data()
    proc, client = _start_fake(variants.emulator_for("ppc64"), tmp_path, accel="tcg")
    f = client.makefile("rb")
    f.readline()
    f.close()
    client.close()
    deadline = time.monotonic() + 30  # a bounded wait, not a measured duration
    sock = tmp_path / "m.sock"
    while time.monotonic() < deadline:  # the server exits when libvirt closes the monitor
        c = socket.socket(socket.AF_UNIX)
        try:
            c.connect(str(sock))
        except OSError:
            break
        finally:
            c.close()
        time.sleep(0.05)
    else:
        pytest.fail("fake server still accepting after the QMP connection closed")
    shutil.rmtree(tmp_path, ignore_errors=True)


def _cli_wrapper(tmp: Path, replies_path: Path, muts: list[dict]) -> str:
    """A wrapper using the documented CLI (``python -m virtfuzz.fakeqemu --replies --mutations``)."""
    (tmp / "m.json").write_text(json.dumps(muts))
    wrapper = tmp / "qemu-system-x86_64"
    wrapper.write_text(
        f"#!/bin/sh\ncd {variants.REPO_ROOT} && exec /usr/bin/python3 -m virtfuzz.fakeqemu "
        f"--replies {replies_path} --mutations {tmp / 'm.json'} --log {tmp / 'log'} \"$@\"\n"
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def test_cli_applies_mutations(tmp_path):
    _need_libvirt_data()
    wrapper = _cli_wrapper(tmp_path, X86_72, [{"op": "del-type", "name": "piix3-usb-uhci"}])
    (tmp_path / "q").mkdir()
    proc, client = _start_fake(wrapper, tmp_path / "q")
    assert proc.returncode == 0, proc.stderr
    f = client.makefile("rb")
    f.readline()
    types = {t["name"] for t in _qmp(f, client, "qom-list-types")["return"]}
    assert "piix3-usb-uhci" not in types and "piix4-usb-uhci" in types
    f.close()
    client.close()


@pytest.mark.libvirt
def test_libvirt_rejects_version_mutated_below_4_2(tmp_path, root):
    _need_libvirt()
    wrapper = _cli_wrapper(tmp_path, X86_72, [{"op": "set-version", "version": "4.1.0"}])
    (res,) = probe.probe(root, [("x86_64", wrapper)])
    assert res["caps"] is None and res["error"]
    assert "QEMU version >= 4.2.0 is required, but 4.1.0 found" in res["log"]


_NO_KVM_CHECK = r"""
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from virtfuzz.fakeqemu import probe, variants
assert not os.access("/dev/kvm", os.F_OK)
capsdata = variants.libvirt_src() / "tests" / "qemucapabilitiesdata"
names = [p.name[5:-8] for p in sorted(capsdata.glob("caps_*.x86_64.replies"))]
jobs = [("x86_64", variants.emulator_for("x86_64", n.rsplit(".", 1)[0])) for n in names]
root = Path(sys.argv[1])
res = probe.probe(root, jobs)
mtimes = [probe.cache_file(root, e).stat().st_mtime_ns for _, e in jobs]
again = probe.probe(root, jobs)  # a new process: the kvm-less entries must stay valid
out = {}
for n, r, r2, m, (_, e) in zip(names, res, again, mtimes, jobs):
    same = r["caps"] is not None and probe.normalise(r["caps"], drop_kvm=True) == probe.normalise(
        (capsdata / f"caps_{n}.xml").read_text(), drop_kvm=True)
    kept = r2["error"] is None and probe.cache_file(root, e).stat().st_mtime_ns == m
    out[n] = {"same": same, "kvm": bool(r["caps"]) and probe.has_kvm(r["caps"]), "kept": kept}
print(json.dumps(out))
"""


@pytest.mark.libvirt
def test_libvirt_caps_match_on_a_host_without_kvm(data_dir, tmp_path, root):
    """The x86 sets again, as on a CI machine without /dev/kvm: a private mount namespace whose
    /dev lacks kvm, so libvirt and the fake both see no KVM (the fake then answers from the
    recordings' TCG sections)."""
    _need_libvirt()
    script = tmp_path / "check.py"
    script.write_text(_NO_KVM_CHECK)
    if os.path.exists("/dev/kvm"):  # hide it: needs root (the suite's set-up runs as root) and unshare
        assert os.geteuid() == 0 and shutil.which("unshare"), "hiding /dev/kvm needs root and unshare"
        dev = tmp_path / "dev"
        dev.mkdir()
        for node in ("null", "zero", "full", "random", "urandom", "tty", "ptmx"):
            subprocess.run(["cp", "-a", f"/dev/{node}", str(dev)], check=False)
        cmd = f"mount --bind {dev} /dev && exec {sys.executable} {script} {root} {variants.REPO_ROOT}"
        proc = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=300)
    else:  # this machine has no KVM already: the same check runs as it is
        proc = subprocess.run([sys.executable, str(script), str(root), str(variants.REPO_ROOT)],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out) == 11
    for name, r in out.items():
        assert r["same"] and not r["kvm"], name
        assert r["kept"], (name, "re-probed: the cache entry did not stay valid")


@pytest.mark.libvirt
def test_caps_xml_of_a_variant(data_dir):
    _need_libvirt()
    caps = variants.caps_xml("x86_64", "7.2.0", ["qemu-xhci"])
    got = probe.caps_flags(caps)
    assert "qemu-xhci" not in got and "piix3-usb-uhci" in got
    # libvirt then refuses domain type 'qemu', but the probe itself worked
    assert "tcg" not in probe.caps_flags(variants.caps_xml("x86_64", "7.2.0", ["tcg"]))
    shutil.rmtree(variants.caps_root(), ignore_errors=True)


@pytest.mark.libvirt
def test_libvirt_probes_as_an_unprivileged_qemu_user(data_dir, tmp_path, root):
    """With qemu.conf naming an ordinary user the fake runs as that user (libvirt 9.0 keeps only
    CAP_DAC_OVERRIDE for the probe, so file modes are not what this checks): it must judge
    /dev/kvm the way libvirt does for that user (access() ignores the capability), or the x86
    cache entry would be thrown away on every lookup."""
    _need_libvirt()
    import pwd

    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        libvirt_missing("no libvirt-qemu user (Debian's libvirt-daemon-system creates it)")
    os.chmod(tmp_path, 0o755)
    conf = 'user = "libvirt-qemu"\ngroup = "libvirt-qemu"\nstdio_handler = "file"\n'
    emulator = variants.emulator_for("x86_64", "7.2.0")
    (res,) = probe.probe(root, [("x86_64", emulator)], qemu_conf=conf)
    assert res["error"] is None and res["caps"], res["log"][-2000:]
    kvm = probe.has_kvm(res["caps"])
    expected = (CAPSDATA / "caps_7.2.0.x86_64.xml").read_text()
    assert probe.normalise(res["caps"], drop_kvm=not kvm) == probe.normalise(expected, drop_kvm=not kvm)
    cache = probe.cache_file(root, emulator)
    before = cache.stat().st_mtime_ns
    (again,) = probe.probe(root, [("x86_64", emulator)], qemu_conf=conf)
    assert again["error"] is None and cache.stat().st_mtime_ns == before  # still valid: not re-probed
