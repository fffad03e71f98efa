#!/usr/bin/env python3
"""Cost of capability variants under the real libvirt, and how well the flag table works.

Why: every fuzzing campaign over capability sets pays one libvirt probe per new variant and
then relies on libvirt's caps cache; this measures both, plus (as a by-product of making many
variants) whether deleting each mapped flag really makes libvirt drop it.

For ARCH's recording it makes one variant per flag of the flag table that the recording sets
(``caps_del=[flag]``), in a fresh data dir and a fresh embedded libvirt root:
- first: ``emulator_for`` (writes the wrapper) + ``getDomainCapabilities`` (libvirt probes the
  fake QEMU, two processes on x86 with KVM) per variant;
- cached, same process: the same calls again (wrapper untouched, in-memory caps);
- cached, new process: a new libvirt process on the same root (caps read back from disk).

Usage: bench/bench_variants.py [--arch x86_64] [--qemu VERSION] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
import libvirt
from virtfuzz.fakeqemu import probe, variants
from virtfuzz.backends.embed_open import open_embedded
libvirt.virEventRegisterDefaultImpl()
root, spec = sys.argv[1], json.loads(sys.argv[2])
conn = open_embedded(root)
def one(dels):
    t = time.perf_counter()
    emu = variants.emulator_for(spec["arch"], spec["qemu"], dels)
    try:
        conn.getDomainCapabilities(emu, spec["arch"], None, "qemu", 0)
        err = None
    except libvirt.libvirtError as exc:
        err = str(exc)
    return emu, time.perf_counter() - t, err
out = {"first": [], "again": []}
for dels in spec["variants"]:
    emu, dt, err = one(dels)
    out["first"].append({"dels": dels, "emulator": emu, "seconds": dt, "error": err})
if spec.get("again"):
    for dels in spec["variants"]:
        emu, dt, err = one(dels)
        if err is None:
            out["again"].append(dt)
print(json.dumps(out))
"""


def run_child(root: Path, spec: dict, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), json.dumps(spec), str(REPO)],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"libvirt child failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    kvm = "usable" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "not usable"
    py = platform.python_version()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, /dev/kvm {kvm}, Python {py}, "
            f"load average {load} (other work on the machine inflates first-use times)")


def summary(label: str, secs: list[float]) -> str:
    total = sum(secs)
    return (f"{label:<28} n={len(secs):4d}  median {statistics.median(secs) * 1000:8.2f} ms  "
            f"mean {total / len(secs) * 1000:8.2f} ms  max {max(secs) * 1000:8.2f} ms  "
            f"{len(secs) / total:9.1f} variants/s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="x86_64")
    ap.add_argument("--qemu", default=None, help="version id (default: installed QEMU recording)")
    ap.add_argument("--limit", type=int, default=0, help="at most N flag variants (0 = all)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch data dir and libvirt root")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="virtfuzz-bench-"))
    try:
        return bench(opts, work)
    finally:
        if opts.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(opts: argparse.Namespace, work: Path) -> int:

    from virtfuzz.fakeqemu import flags, probe

    os.chmod(work, 0o755)
    env = {**os.environ, "VIRTFUZZ_DATA_DIR": str(work / "data")}
    root = work / "root"
    probe.init_root(root)

    base = run_child(root, {"arch": opts.arch, "qemu": opts.qemu, "variants": [[]]}, env)["first"][0]
    base_flags = probe.caps_flags(probe.cache_file(root, base["emulator"]).read_text())
    candidates = [f for f in flags.known_flags() if f in base_flags]
    if opts.limit:
        candidates = candidates[: opts.limit]
    spec = {"arch": opts.arch, "qemu": opts.qemu, "variants": [[f] for f in candidates], "again": True}
    res = run_child(root, spec, env)
    cache_files = [probe.cache_file(root, r["emulator"]) for r in res["first"]]
    mtimes = [f.stat().st_mtime_ns if f.exists() else None for f in cache_files]
    reloaded = run_child(root, {**spec, "again": False}, env)
    reprobed = sum(f.exists() and f.stat().st_mtime_ns != m for f, m in zip(cache_files, mtimes, strict=True))

    gone, kept, failed, refused, collateral, with_others = [], [], [], [], [], []
    for item in res["first"]:
        flag = item["dels"][0]
        cache = probe.cache_file(root, item["emulator"])
        if not cache.exists():  # the probe itself failed
            failed.append(f"{flag} ({(item['error'] or 'no caps').splitlines()[0][-120:]})")
            continue
        if item["error"]:  # probed, but libvirt refuses the domain-capabilities query (e.g. no tcg)
            refused.append(f"{flag} ({item['error'].splitlines()[0][-60:]})")
        caps = probe.caps_flags(cache.read_text())
        (gone if flag not in caps else kept).append(flag)
        lost = sorted(base_flags - caps - {flag})
        collateral.append(len(lost))
        if lost:
            with_others.append(f"{flag} (+{' '.join(lost)})")
    ok_first = [r["seconds"] for r in res["first"] if probe.cache_file(root, r["emulator"]).exists()]
    ok_reloaded = [r["seconds"] for r in reloaded["first"] if not r["error"]]

    print(f"machine: {machine()}")
    print(f"recording: {opts.arch} {opts.qemu or 'installed QEMU'}, base probe {base['seconds']:.3f} s, "
          f"{len(base_flags)} flags set")
    print(summary("first use (write + probe)", ok_first))
    print(summary("again, same process", res["again"]))
    print(summary("again, new process (disk)", ok_reloaded) + f"  (re-probed: {reprobed})")
    first = statistics.median(ok_first)
    print(f"ratio first/again: {first / statistics.median(res['again']):.0f}x (same process), "
          f"{first / statistics.median(ok_reloaded):.0f}x (new process)")
    print(f"flag table: {len(flags.known_flags())} flags mapped; {len(candidates)} set by this recording; "
          f"deleting one removes it in {len(gone)}/{len(candidates)} "
          f"(median {statistics.median(collateral) if collateral else 0} other flags lost with it)")
    if with_others:
        print(f"deleting these also removes other flags (libvirt derives them): {'; '.join(with_others)}")
    if kept:
        print(f"still set after deletion (libvirt sets them from other sources): {', '.join(kept)}")
    if refused:
        print(f"probed fine, but libvirt then refuses a 'qemu' domain: {'; '.join(refused)}")
    if failed:
        print(f"probe fails after deletion (libvirt then asks for unrecorded data): {'; '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
