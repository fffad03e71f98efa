#!/usr/bin/env python3
"""Record libvirt 9.0.0's capability probe of the installed QEMU binaries as ``.replies`` files.

Why: the fake QEMU replays recordings; libvirt's test data lacks several arches and was not made
with this host's QEMU. For each arch this puts the recording proxy (virtfuzz.fakeqemu.recorder)
in front of the real ``qemu-system-*`` binary, lets a real embedded libvirt probe it, writes
``capsets/replies/qemu-<ver>/<arch>.replies``, then checks the recording: libvirt probing the
fake QEMU replaying it must cache the same capabilities as probing the real QEMU did.

Usage: scripts/record-qemu-replies.py [--version 7.2.0] [ARCH ...]
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from virtfuzz.fakeqemu import probe, variants  # noqa: E402

ARCHES = ["x86_64", "i686", "ppc64", "aarch64", "armv7l", "s390x", "riscv64"]


def record(arch: str, version: str, work: Path) -> bool:
    out_dir = variants.HOST_REPLIES / f"qemu-{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{arch}.replies"
    tmp_out = work / f"{arch}.replies"
    real = shutil.which(variants.QEMU_BINARY[arch]) or f"/usr/bin/{variants.QEMU_BINARY[arch]}"
    wrapper = work / arch / variants.QEMU_BINARY[arch]
    wrapper.parent.mkdir(parents=True)
    boot = (
        f"import sys; sys.path.insert(0, {str(variants.REPO_ROOT)!r}); "
        "from virtfuzz.fakeqemu.recorder import main; sys.exit(main())"
    )
    wrapper.write_text(
        f"#!/bin/sh\nexec {sys.executable} -S -c \"{boot}\" --real {real} --out {tmp_out} \"$@\"\n"
    )
    wrapper.chmod(0o755)
    (real_res,) = probe.probe(work / f"root-real-{arch}", [(arch, str(wrapper))])
    if real_res["caps"] is None or not tmp_out.exists():
        print(f"{arch}: probe of the real QEMU failed: {real_res['error']}")
        return False
    shutil.copyfile(tmp_out, out)
    out.chmod(0o644)
    fake = variants.emulator_for(arch, f"{version}{variants.HOST_SUFFIX}")
    (fake_res,) = probe.probe(work / f"root-fake-{arch}", [(arch, fake)])
    if fake_res["caps"] is None:
        print(f"{arch}: probe of the fake failed: {fake_res['error']}")
        return False
    a, b = probe.normalise(real_res["caps"]), probe.normalise(fake_res["caps"])
    if a != b:
        print(f"{arch}: replaying the recording gives different caps:")
        print("\n".join(list(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0))[:40]))
        return False
    flags = len(probe.caps_flags(real_res["caps"]))
    kvm = "kvm" if probe.has_kvm(real_res["caps"]) else "tcg"
    print(f"{arch}: recorded {out} ({flags} flags, {kvm}); replay reproduces the real probe")
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default=variants.INSTALLED_QEMU)
    ap.add_argument("arches", nargs="*", default=ARCHES)
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="virtfuzz-record-"))
    os.chmod(work, 0o755)
    try:
        results = [record(arch, opts.version, work) for arch in opts.arches]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
