"""Raw libvirt-python loop vs the libvirt backend's batch define, on the same 400 small domains.

Raw: define + XMLDesc(0) + XMLDesc(MIGRATABLE) + undefine in one process owning an embedded root.
Backend: ``LibvirtBackend.define_many`` (worker process, chunked pipe protocol), i.e. what
``virtfuzz define --out`` uses. Both roots are seeded with the same capability cache and warmed
with one define per arch first, so neither pays for a QEMU probe. Prints both rates and the ratio.

Usage: python bench/bench_backend.py [--n 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from virtfuzz.backends.embed_root import EmbedRoot
from virtfuzz.backends.libvirt_backend import LibvirtBackend

MACHINES = [("x86_64", "pc"), ("x86_64", "q35"), ("ppc64", "pseries"), ("aarch64", "virt"),
            ("s390x", "s390-ccw-virtio")]

RAW = r"""
import sys, time, pickle, libvirt
libvirt.registerErrorHandler(lambda c, e: None, None)
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open("qemu:///embed?root=" + sys.argv[1])
xmls = pickle.load(open(sys.argv[2], "rb"))
def cycle(x):
    d = conn.defineXML(x); d.XMLDesc(0); d.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE); d.undefine()
for x in pickle.load(open(sys.argv[3], "rb")):
    cycle(x)
t = time.perf_counter()
for x in xmls:
    cycle(x)
print(time.perf_counter() - t)
"""


def domains(n: int) -> list[str]:
    out = []
    for i in range(n):
        arch, machine = MACHINES[i % len(MACHINES)]
        dev = "<input type='tablet' bus='usb'/>" if arch in ("x86_64", "ppc64") else ""  # no implicit USB elsewhere
        out.append(f"<domain type='qemu'><name>bench{i}</name>"
                   f"<uuid>00000000-0000-4000-8000-{i:012d}</uuid><memory unit='KiB'>65536</memory>"
                   f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os>"
                   f"<devices>{dev}</devices></domain>")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import pickle
    import tempfile

    xmls = domains(a.n)
    warm = domains(len(MACHINES))
    tmp = tempfile.mkdtemp()
    with open(f"{tmp}/x.pkl", "wb") as f:
        pickle.dump(xmls, f)
    with open(f"{tmp}/w.pkl", "wb") as f:
        pickle.dump(warm, f)

    backend = LibvirtBackend()
    backend.define_many(warm)  # probes (if any) happen here, and the shared caps cache is filled
    raw_root = EmbedRoot(backend.version)
    raw_t, be_t = [], []
    for _ in range(a.repeat):
        out = subprocess.run([sys.executable, "-c", RAW, str(raw_root.path), f"{tmp}/x.pkl", f"{tmp}/w.pkl"],
                             capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"raw loop failed: {out.stderr.strip()}")
        raw_t.append(float(out.stdout.strip()))
        t = time.perf_counter()
        res = backend.define_many(xmls)
        be_t.append(time.perf_counter() - t)
        assert all(r.kind == "ok" for r in res), [r.error for r in res if r.kind != "ok"][:3]
    backend.close()
    raw_root.remove()
    raw_rate = a.n / statistics.median(raw_t)
    be_rate = a.n / statistics.median(be_t)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, libvirt {backend.version}, "
          f"root on {raw_root.path.parent}")
    print(f"raw libvirt-python loop: {raw_rate:8.1f} domains/s (median of {a.repeat} x {a.n})")
    print(f"backend define_many:     {be_rate:8.1f} domains/s (median of {a.repeat} x {a.n})")
    print(f"ratio backend/raw:       {be_rate / raw_rate:8.2f}")


if __name__ == "__main__":
    main()
