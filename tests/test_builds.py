"""Every described libvirt build (builds/*.toml) is usable through virtfuzz, and gives exactly what
that build's own libvirt-python gives when driven directly.

The reference is ``scripts/recorder.py`` (stdlib + libvirt only) run with the build's own python3
inside its root filesystem (plain ``unshare``/``chroot`` here, nothing of virtfuzz's backend code);
virtfuzz's answer is ``virtfuzz define --backend libvirt --libvirt V --out DIR``. A build that is
not installed FAILS these tests (scripts/setup.sh installs them all); VIRTFUZZ_SKIP_LIBVIRT=1 skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import libvirt_missing
from virtfuzz import buildroots

pytestmark = pytest.mark.libvirt

REPO = Path(__file__).resolve().parent.parent
VERSIONS = list(buildroots.specs())
VIRTFUZZ = [sys.executable, "-m", "virtfuzz.cli"]

MACHINES = [("x86_64", "pc"), ("x86_64", "q35"), ("x86_64", "pc-i440fx-5.2"), ("i686", "pc"),
            ("aarch64", "virt"), ("armv7l", "virt"), ("ppc64", "pseries"), ("s390x", "s390-ccw-virtio"),
            ("riscv64", "virt")]
DEVICES = {
    "bare": "",
    "nousb": "<controller type='usb' model='none'/>",
    "uhci": "<controller type='usb' index='0' model='piix3-uhci'/>",
    "xhci": "<controller type='usb' index='0' model='qemu-xhci' ports='8'/>",
    "tablet": "<input type='tablet' bus='usb'/>",
}


def _domains() -> dict[str, str]:
    out = {}
    for i, ((arch, machine), (dname, devices)) in enumerate(
            (m, d) for m in MACHINES for d in DEVICES.items()):
        name = f"{arch}-{machine}-{dname}".replace(".", "_")
        out[name] = (f"<domain type='qemu'><name>{name}</name>"
                     f"<uuid>c7a5fdbd-cdaf-9455-926a-{i:012d}</uuid><memory unit='KiB'>65536</memory>"
                     f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os>"
                     f"<devices>{devices}</devices></domain>\n")
    return out


def require_build(version: str) -> dict:
    info = buildroots.installed().get(version)
    if info is None:
        have = ", ".join(buildroots.installed()) or "none"
        libvirt_missing(f"libvirt build {version} is not installed (have: {have}): "
                        f"virtfuzz builds --install {version}")
    return info


def _record_directly(info: dict, files: list[Path], visible: Path) -> str:
    """scripts/recorder.py with the build's own python3 and libvirt (inside its root)."""
    recorder = str(REPO / "scripts" / "recorder.py")
    if info.get("host"):
        cmd = [sys.executable, recorder, "define", *map(str, files)]
    else:
        root = info["root"]
        script = ('r=$1; v=$2; c=$3; shift 3; mount --bind "$r" "$r" && mount -t proc proc "$r/proc" && '
                  'mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" && '
                  'mkdir -p "$r$v" "$r$c" && mount --bind "$v" "$r$v" && mount --bind "$c" "$r$c" && '
                  'exec chroot "$r" /usr/bin/python3 "$@"')
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "rec", root, str(visible),
               str(REPO / "scripts"), recorder, "define", *map(str, files)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_define_is_byte_identical_to_the_builds_own_libvirt(version, tmp_path):
    info = require_build(version)
    domains = _domains()
    ref, inp, out = tmp_path / "ref", tmp_path / "in", tmp_path / "out"
    for d in (ref, inp):
        d.mkdir()
    for name, xml in domains.items():
        (ref / f"{name}.xml").write_text(xml)
        (inp / f"{name}.xml").write_text(xml)
    log = _record_directly(info, sorted(ref.glob("*.xml")), tmp_path)
    expected_version = tuple(int(x) for x in version.split("."))
    assert f"(libvirt {expected_version[0] * 1000000 + expected_version[1] * 1000 + expected_version[2]})" in log
    r = subprocess.run([*VIRTFUZZ, "define", "--backend", "libvirt", "--libvirt", version, "--out", str(out),
                        *map(str, sorted(inp.glob("*.xml")))], capture_output=True, text=True, timeout=600,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr
    same = ok = 0
    for name in domains:
        if (ref / f"{name}.expected.err").exists():
            assert (out / f"{name}.err").read_text() == (ref / f"{name}.expected.err").read_text(), name
        else:
            assert (out / f"{name}.xml").read_bytes() == (ref / f"{name}.expected.xml").read_bytes(), name
            assert (out / f"{name}.mig.xml").read_bytes() == (ref / f"{name}.expected.mig.xml").read_bytes(), name
            ok += 1
        same += 1
    assert same == len(domains) >= 40
    assert ok >= len(domains) // 2  # most small domains are accepted by every build
    print(f"libvirt {version}: {same} domains byte-identical ({ok} accepted)")


@pytest.mark.parametrize("version", VERSIONS)
def test_restart_loader_and_abi_check_run_inside_the_build(version):
    require_build(version)
    from virtfuzz.backends.libvirt_backend import LibvirtBackend

    xml = _domains()["x86_64-pc-uhci"]
    with LibvirtBackend(version) as b:
        info = b._ensure().info
        major, minor, micro = (int(x) for x in version.split("."))
        assert info["version"] == major * 1000000 + minor * 1000 + micro
        assert info["cpuinfo_snapshot"] == "in use"
        d = b.define(xml)
        assert d.kind == "ok", d.error
        loaded = b.load(d.xml)
        assert loaded.kind == "ok" and loaded.xml == d.xml, loaded.error
        assert b.abi(d.xml, d.migratable).kind == "ok"
        other = d.xml.replace("piix3-uhci", "qemu-xhci")
        assert b.abi(d.xml, other).kind == "error"


def test_builds_lists_exact_package_versions():
    r = subprocess.run([*VIRTFUZZ, "builds", "--json"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    builds = {b["version"]: b for b in json.loads(r.stdout)}
    for version in VERSIONS:
        if version not in builds:
            require_build(version)  # fails (or skips) with the reason
        b = builds[version]
        assert buildroots.upstream(b["packages"]["libvirt0"]) == version
        assert "qemu-system-x86" in b["packages"] and "python3-libvirt" in b["packages"]
    text = subprocess.run([*VIRTFUZZ, "builds"], capture_output=True, text=True, cwd=REPO, timeout=60).stdout
    assert len(text.splitlines()) == len(builds)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*VIRTFUZZ, *args], capture_output=True, text=True, cwd=REPO, timeout=120, **kw)


def test_unknown_libvirt_version_lists_the_installed_builds(tmp_path):
    f = tmp_path / "d.xml"
    f.write_text(_domains()["x86_64-pc-bare"])
    r = _cli("define", "--backend", "libvirt", "--libvirt", "1.2.3", str(f))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "1.2.3" in r.stderr and "installed:" in r.stderr
    for v in buildroots.installed():
        assert v in r.stderr


@pytest.mark.parametrize("version", [v for v in VERSIONS if not buildroots.specs()[v].host])
def test_another_builds_qemu_is_refused_on_a_build(version, tmp_path):
    """A build is served recordings of its own QEMU only (made through its own libvirt: replies
    follow a libvirt version's probe order); --caps-del on it: tests/test_caps_variants_builds.py."""
    require_build(version)
    f = tmp_path / "d.xml"
    f.write_text(_domains()["x86_64-pc-bare"])
    for opts in (["--qemu", "7.2.0-host"], ["--qemu", "7.2.0", "--caps-del", "piix3-usb-uhci"]):
        r = _cli("define", "--backend", "libvirt", "--libvirt", version, *opts, str(f))
        assert r.returncode == 2, (opts, r.stdout)
        assert len(r.stderr.strip().splitlines()) == 1 and version in r.stderr, r.stderr


def test_worker_side_modules_are_stdlib_and_libvirt_only():
    code = ("import sys, virtfuzz.backends.libvirt_worker; "
            "ok = {'virtfuzz', 'virtfuzz.backends', 'virtfuzz.lifeline'}; "
            "bad = [m for m in sys.modules if (m.startswith('virtfuzz') and m not in ok and "
            "not m.startswith('virtfuzz.backends.')) or m.split('.')[0] in ('lxml', 'hypothesis', 'oracle', 'fuzz')]; "
            "bad += [m for m in sys.modules if m.startswith('virtfuzz.backends.') and m.split('.')[2] not in "
            "('libvirt_worker', 'wire', 'saveimage', 'cpuinfo_snapshot', 'embed_open', 'reaper')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


WORKER_SIDE = ("backends/libvirt_worker.py", "backends/wire.py", "backends/saveimage.py",
               "backends/cpuinfo_snapshot.py", "backends/embed_open.py", "backends/reaper.py",
               "backends/__init__.py", "backends/live_migration.py", "lifeline.py", "__init__.py")


@pytest.mark.parametrize("path", WORKER_SIDE)
def test_worker_side_modules_are_python_3_9(path):
    """They run with bullseye's Python 3.9: no 3.10+ grammar, no zip(strict=), no dataclass(slots=)."""
    import ast

    src = (REPO / "virtfuzz" / path).read_text()
    tree = ast.parse(src, feature_version=(3, 9))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            kws = {k.arg for k in node.keywords}
            assert not (name == "zip" and "strict" in kws), f"{path}:{node.lineno}: zip(strict=)"
            assert not (name == "dataclass" and kws & {"slots", "kw_only"}), f"{path}:{node.lineno}"
        assert not isinstance(node, ast.Match), f"{path}:{node.lineno}: match"


def test_install_limit_and_unknown_description(tmp_path):
    env = {**os.environ, "VIRTFUZZ_BUILDS": "0.0.1"}
    r = _cli("builds", "--install", env=env)
    assert r.returncode == 2 and "0.0.1" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert buildroots.limit() is None or isinstance(buildroots.limit(), list)


def test_a_mirror_that_moved_on_is_said_in_the_install_line():
    spec = buildroots.specs()["12.9.0"]
    assert buildroots.moved_on(spec, dict(spec.packages)) == ""
    line = buildroots.moved_on(spec, {**spec.packages, "libvirt0": "12.10.0-1~bpo13+1"})
    assert "libvirt0 12.10.0-1~bpo13+1 (wanted 12.9.0-1~bpo13+1)" in line
    assert "build named 12.10.0, not 12.9.0" in line and "\n" not in line


@pytest.mark.parametrize("version", [v for v in VERSIONS if not buildroots.specs()[v].host])
def test_a_real_guest_starts_saves_and_restores_inside_the_build(version):
    """The live tier's operation: QEMU of the build runs (TCG, paused) inside the root."""
    require_build(version)
    from virtfuzz.backends.libvirt_backend import LibvirtBackend

    with LibvirtBackend(version) as b:
        out = b.live(_domains()["x86_64-pc-uhci"], ["<input type='tablet' bus='usb'/>"])
    assert out["kind"] == "ok", out
    assert out["attach"] == [{"kind": "ok", "error": None}]
    assert "<input type='tablet' bus='usb'>" in out["restored_xml"]
