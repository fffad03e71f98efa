#!/usr/bin/env python3
"""Which --caps-del flags a build really honours: a flag deleted through the build's flag table must
disappear from what that build's libvirt derives.

For each arch of build V, the build's libvirt (inside its root) probes the fake QEMU replaying V's
recording once as is and once per mapped flag the recording sets, with that flag deleted. A flag
that stays (or whose variant fails to probe) on some arch is written, with the arches, to
``virtfuzz/fakeqemu/data/flags-unhonoured.json``; ``--caps-del`` refuses it on that build (exit 2,
one line) instead of silently doing nothing. Why a sweep: 12.9.0's table is 11.3.0's (its source
package is not on the mirror), and a table derived from a release's source can still miss how
that release probes a few flags.

Usage: scripts/sweep-build-flags.py --libvirt V [ARCH ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from virtfuzz import buildroots  # noqa: E402
from virtfuzz.fakeqemu import flags, probe, variants  # noqa: E402


def _probe_split(build: dict, work: Path, ems: list) -> list:
    """probe.probe in one libvirt process; when that process dies, the halves separately, down to
    the variant that kills it (None)."""
    try:
        return probe.probe(work / f"r{len(list(work.iterdir()))}", ems, build=build, binds=[str(work)], timeout=3600)
    except RuntimeError:
        if len(ems) == 1:
            return [None]
        half = len(ems) // 2
        return _probe_split(build, work, ems[:half]) + _probe_split(build, work, ems[half:])


def sweep(build: dict, arch: str) -> tuple[int, dict[str, str]]:
    v = build["version"]
    work = Path(tempfile.mkdtemp(prefix="vfs-", dir="/tmp"))
    work.chmod(0o755)
    try:
        (base,) = probe.probe(work / "b", [(arch, variants.emulator_for(arch, libvirt=v))], build=build,
                              binds=[str(work)])
        if not base["caps"]:
            raise SystemExit(f"{v} {arch}: the unmodified recording does not probe: {base['error']}")
        have = probe.caps_flags(base["caps"])
        cands = [f for f in flags.known_flags(v) if f in have]
        rec = variants.find_recording(arch, None, v)  # the variants made directly: the sweep is what
        ems = [(arch, str(variants.materialise(variants.Variant(rec, (f,))))) for f in cands]  # refuses
        results = _probe_split(build, work, ems)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = {}
    for flag, res in zip(cands, results, strict=True):
        if res is None:
            bad[flag] = "libvirt's probe process dies on the variant"
        elif not res["caps"]:
            bad[flag] = "the variant does not probe"
        elif flag in probe.caps_flags(res["caps"]):
            bad[flag] = "libvirt still sets it"
    return len(cands), bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libvirt", required=True)
    ap.add_argument("arches", nargs="*")
    opts = ap.parse_args()
    build = buildroots.installed().get(opts.libvirt)
    if build is None or build.get("host"):
        print(f"{opts.libvirt}: not an installed build in a root (have: {', '.join(buildroots.installed())})")
        return 2
    arches = opts.arches or sorted(variants.recordings(opts.libvirt))
    found: dict[str, dict[str, list[str]]] = {}  # flag -> reason -> arches
    for arch in arches:
        n, bad = sweep(build, arch)
        print(f"{opts.libvirt} {arch}: {n - len(bad)}/{n} flags honoured" + (f"; not: {', '.join(bad)}" if bad else ""))
        for flag, why in bad.items():
            found.setdefault(flag, {}).setdefault(why, []).append(arch)
    path = flags.UNHONOURED_PATH
    data = json.loads(path.read_text()) if path.exists() else {}
    data[opts.libvirt] = {f: "; ".join(f"{why} ({', '.join(sorted(a))})" for why, a in sorted(r.items()))
                          for f, r in sorted(found.items())}
    path.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
