#!/usr/bin/env python3
"""Record libvirt 9.0.0's capability probe of the installed QEMU binaries as ``.replies`` files.

Why: the fake QEMU replays recordings; libvirt's test data lacks several arches and was not made
with this host's QEMU. For each arch this puts the recording proxy (virtfuzz.fakeqemu.recorder)
in front of the real ``qemu-system-*`` binary, lets a real embedded libvirt probe it, writes
``capsets/replies/qemu-<ver>/<arch>.replies``, then checks the recording: libvirt probing the
fake QEMU replaying it must cache the same capabilities as probing the real QEMU did.

``--libvirt V`` (another installed build): the same with that build's libvirt and QEMU, inside its
root filesystem (the proxy runs with the root's python3 in front of the root's QEMU), so the
replies follow libvirt V's probe order; written to ``capsets/replies/libvirt-V/qemu-<ver>/``
(``<ver>`` read from the probe) and served only to that build.

Usage: scripts/record-qemu-replies.py [--version 7.2.0] [--libvirt V] [ARCH ...]
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from virtfuzz import buildroots  # noqa: E402
from virtfuzz.fakeqemu import flags as flags_mod  # noqa: E402
from virtfuzz.fakeqemu import probe, variants  # noqa: E402

ARCHES = ["x86_64", "i686", "ppc64", "aarch64", "armv7l", "s390x", "riscv64"]


def _qemu_version(caps: str) -> str:
    v = int(re.search(r"<version>(\d+)</version>", caps).group(1))
    return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"


def record(arch: str, version: str, work: Path, build: dict | None = None) -> bool:
    real = f"/usr/bin/{variants.QEMU_BINARY[arch]}" if build else \
        shutil.which(variants.QEMU_BINARY[arch]) or f"/usr/bin/{variants.QEMU_BINARY[arch]}"
    python = "/usr/bin/python3" if build else sys.executable
    tmp_out = work / f"{arch}.replies"
    wrapper = work / arch / variants.QEMU_BINARY[arch]
    wrapper.parent.mkdir(parents=True)
    boot = (
        f"import sys; sys.path.insert(0, {str(variants.REPO_ROOT)!r}); "
        "from virtfuzz.fakeqemu.recorder import main; sys.exit(main())"
    )
    wrapper.write_text(
        f"#!/bin/sh\nexec {python} -S -c \"{boot}\" --real {real} --out {tmp_out} \"$@\"\n"
    )
    wrapper.chmod(0o755)
    (real_res,) = probe.probe(work / f"root-real-{arch}", [(arch, str(wrapper))], build=build, binds=[str(work)])
    if real_res["caps"] is None or not tmp_out.exists():
        print(f"{arch}: probe of the real QEMU failed: {real_res['error']}")
        return False
    libvirt = build["version"] if build else flags_mod.DEFAULT_LIBVIRT
    if build:
        version = _qemu_version(real_res["caps"])
        out_dir = variants.build_replies(libvirt) / f"qemu-{version}"
    else:
        out_dir = variants.HOST_REPLIES / f"qemu-{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{arch}.replies"
    shutil.copyfile(tmp_out, out)
    out.chmod(0o644)
    fake = variants.emulator_for(arch, f"{version}{variants.HOST_SUFFIX}", libvirt=libvirt)
    (fake_res,) = probe.probe(work / f"root-fake-{arch}", [(arch, fake)], build=build, binds=[str(work)])
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
    ap.add_argument("--libvirt", default=None, help="another installed build (default: the host's)")
    ap.add_argument("arches", nargs="*", default=ARCHES)
    opts = ap.parse_args()
    build = None
    if opts.libvirt:
        build = buildroots.installed().get(opts.libvirt)
        if build is None:
            print(f"libvirt build {opts.libvirt} is not installed (have: {', '.join(buildroots.installed())})")
            return 2
        build = None if build.get("host") else build
    work = Path(tempfile.mkdtemp(prefix="vfrec-", dir="/tmp"))
    os.chmod(work, 0o755)
    try:
        results = [record(arch, opts.version, work, build) for arch in opts.arches]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
