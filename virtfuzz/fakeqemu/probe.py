"""Make a real libvirt (embedded QEMU driver) probe emulators, and compare the caps it caches.

Why a subprocess per embed root: libvirt allows one embedded root per process, and a root's
caps cache (``<root>/cache/qemu/capabilities/<sha256(emulator path)>.xml``) is exactly what
libvirt derived from the probe, in the format of libvirt's own ``caps_*.xml`` test files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

QEMU_CONF = 'user = "root"\ngroup = "root"\nstdio_handler = "file"\n'

_CHILD = r"""
import json, sys, time
import libvirt
from virtfuzz.backends.embed_open import open_embedded
libvirt.virEventRegisterDefaultImpl()
root, jobs = sys.argv[1], json.loads(sys.argv[2])
conn = open_embedded(root)
out = []
for job in jobs:
    t = time.perf_counter()
    res = {"xml": None, "error": None}
    try:
        if "define" in job:
            dom = conn.defineXML(job["define"])
            res["xml"] = dom.XMLDesc(0)
            dom.undefine()
        else:
            conn.getDomainCapabilities(job["emulator"], job["arch"], None, "qemu", 0)
    except libvirt.libvirtError as exc:
        res["error"] = str(exc)
    out.append({**job, **res, "seconds": time.perf_counter() - t})
conn.close()
print(json.dumps(out))
"""

# Host- and path-dependent parts of a caps cache entry: where the emulator is, file times,
# libvirt's own build, and facts libvirt reads from this host rather than from QEMU.
HOST_FIELDS = (
    "emulator", "qemuctime", "qemumoddirmtime", "selfctime", "selfvers", "microcodeVersion",
    "hostCPUSignature", "kernelVersion", "cpudata", "kvmSupportsNesting", "kvmSupportsSecureGuest",
)


# libvirt puts the probe's QMP socket at <root>/lib/qemu/qmp-XXXXXX/qmp.monitor; a Unix socket
# path has at most 107 bytes, so a deep root (pytest-xdist tmp dirs) makes every probe fail.
_SOCKET_SUFFIX = len("/lib/qemu/qmp-XXXXXX/qmp.monitor")
MAX_ROOT_LEN = 107 - _SOCKET_SUFFIX


def short_dir(prefix: str = "vfq-") -> Path:
    """A fresh directory short enough to be an embed root (the caller removes it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))
    path.chmod(0o755)  # the qemu.conf user must reach the QMP socket's directory
    return path


def init_root(root: Path, qemu_conf: str = QEMU_CONF) -> None:
    if len(str(root.absolute())) > MAX_ROOT_LEN:
        raise ValueError(
            f"embed root {root} is longer than {MAX_ROOT_LEN} bytes: libvirt's QMP socket path under it "
            "would exceed the Unix socket limit (use probe.short_dir())"
        )
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "qemu.conf").write_text(qemu_conf)


def cache_file(root: Path, emulator: str) -> Path:
    return root / "cache" / "qemu" / "capabilities" / (hashlib.sha256(emulator.encode()).hexdigest() + ".xml")


def build_command(build: dict | None, binds: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """(command prefix, environment) of a libvirt process of ``build`` (an entry of
    ``virtfuzz.buildroots.installed()``; None or the host: this interpreter): inside its root, with
    its own python3 and libvirt, the checkout, the fake QEMU's variants and ``binds`` visible."""
    if build is None or build.get("host"):
        return [sys.executable], dict(os.environ)
    from virtfuzz import buildroots

    dirs = [*buildroots.worker_binds(), *map(str, binds)]
    env = {**os.environ, "PYTHONPATH": str(buildroots.REPO), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    return [*buildroots.enter_prefix(build["root"], list(dict.fromkeys(dirs))), "/usr/bin/python3"], env


def run_jobs(
    root: Path, jobs: Sequence[dict[str, str]], timeout: float = 600, qemu_conf: str = QEMU_CONF,
    build: dict | None = None, binds: Sequence[str] = (),
) -> list[dict]:
    """Run jobs in one fresh libvirt process on ``root``: ``{"arch", "emulator"}`` probes an
    emulator (getDomainCapabilities), ``{"define": xml}`` defines, reads back and undefines a
    domain (result under ``xml``). Each result also has ``error``, ``seconds`` and ``log`` (the
    process's libvirt log on stderr, shared by all jobs). ``build``: the libvirt of that build,
    inside its root (``root`` and ``binds`` are made visible there)."""
    init_root(root, qemu_conf)
    prefix, env = build_command(build, [str(root), *binds])
    proc = subprocess.run(
        [*prefix, "-c", _CHILD, str(root), json.dumps(list(jobs))],
        capture_output=True, text=True, timeout=timeout, check=False, env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"libvirt process failed: {proc.stderr.strip()[-2000:]}")
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in results:  # libvirt logs why a probe failed only there (virQEMUCapsLogProbeFailure)
        r["log"] = proc.stderr
    return results


def probe(
    root: Path, emulators: Sequence[tuple[str, str]], timeout: float = 600, qemu_conf: str = QEMU_CONF,
    build: dict | None = None, binds: Sequence[str] = (),
) -> list[dict]:
    """Probe each (arch, emulator) in one libvirt process on ``root`` (of ``build``, see run_jobs);
    the cached caps XML libvirt wrote (or None) is under ``caps``."""
    results = run_jobs(root, [{"arch": a, "emulator": e} for a, e in emulators], timeout, qemu_conf, build, binds)
    for r in results:
        f = cache_file(root, r["emulator"])
        r["caps"] = f.read_text() if f.exists() else None
    return results


def define(root: Path, xml: str) -> str:
    """libvirt's inactive XML for ``xml`` after defining it (raises RuntimeError on error)."""
    (res,) = run_jobs(root, [{"define": xml}])
    if res["error"]:
        raise RuntimeError(res["error"])
    return res["xml"]


def normalise(xml: str, drop_kvm: bool = False) -> str:
    """Canonical text of a caps XML without host/path-dependent fields; with ``drop_kvm`` also
    without the KVM-only parts (the ``kvm`` flag, every ``type='kvm'`` element, and Hyper-V
    capabilities, which libvirt only probes with an accelerator)."""
    doc = etree.fromstring(xml.encode())
    for tag in HOST_FIELDS:
        for el in doc.findall(tag):
            doc.remove(el)
    if drop_kvm:
        for el in doc.xpath("flag[@name='kvm'] | *[@type='kvm'] | hypervCapabilities"):
            doc.remove(el)
    return etree.tostring(doc, encoding="unicode")


def caps_flags(xml: str) -> set[str]:
    return set(etree.fromstring(xml.encode()).xpath("flag/@name"))


def has_kvm(xml: str) -> bool:
    return "kvm" in caps_flags(xml)
