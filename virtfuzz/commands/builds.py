"""List the real libvirt builds installed here, or install the described ones (``--install``).

A build is the host's own libvirt (9.0.0) or a Debian root filesystem under
``$VIRTFUZZ_DATA_DIR/builds/<version>/`` made from ``builds/<version>.toml`` (docs/builds.md).
The list gives each build's exact libvirt, QEMU and python3-libvirt package versions. ``--install``
installs every described build (or those named, or those ``VIRTFUZZ_BUILDS=9.0.0,12.9.0`` names),
idempotently; a build that cannot be installed is reported in one line and the others still are
(exit 1 when any failed).
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list the installed real libvirt builds (--install: install the described ones)"
BACKEND_OPTIONS = ()  # it lists or installs builds; it opens no backend


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--install", action="store_true",
                   help="install the described builds (all, the VERSIONs given, or $VIRTFUZZ_BUILDS)")
    p.add_argument("versions", nargs="*", metavar="VERSION", help="with --install: only these builds")


def _install(versions: list[str]) -> int:
    from virtfuzz import buildroots

    specs = buildroots.specs()
    wanted = versions or buildroots.limit() or list(specs)
    unknown = [v for v in wanted if v not in specs]
    if unknown:
        print(f"virtfuzz builds: no description for {', '.join(unknown)} (described: {', '.join(specs)})",
              file=sys.stderr)
        return 2
    failed = 0
    for v in wanted:
        try:
            line, _ = buildroots.install(specs[v])
            print(f"builds: {line}", flush=True)
        except buildroots.BuildError as e:
            failed += 1
            print(f"builds: libvirt {v}: not installed: {e}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    from virtfuzz import buildroots

    if args.install:
        return _install(args.versions)
    if args.versions:
        print("virtfuzz builds: VERSION arguments go with --install", file=sys.stderr)
        return 2
    builds = buildroots.installed()
    if args.json:
        print(json.dumps(list(builds.values()), indent=2))
        return 0
    if not builds:
        print("no libvirt build installed (scripts/setup.sh installs them)")
        return 0
    for v, info in builds.items():
        p = info["packages"]
        where = "host" if info.get("host") else info["suite"]
        if info.get("backports"):
            where += f"+{info['backports']}"
        print(f"{v}\t{where}\tlibvirt0 {p.get('libvirt0', '?')}\tqemu-system-x86 {p.get('qemu-system-x86', '?')}"
              f"\tpython3-libvirt {p.get('python3-libvirt', '?')}\tpython {info.get('python_version', '?')}")
    return 0
