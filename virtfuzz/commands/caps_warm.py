"""Have the real libvirt probe every capability variant a campaign can draw, once, ahead of time.

A fake-QEMU variant (``--qemu``/``--caps-del``, ``virtfuzz.fakeqemu``) costs libvirt a QEMU probe
(0.1-0.4 s) the first time a root sees it; libvirt's capability cache, shared across roots and
runs in $VIRTFUZZ_DATA_DIR/capscache/<libvirt version>, serves it afterwards. A campaign on a
fresh machine would otherwise spend a large part of its budget probing (about 110 variants, times
two roots per job). Every installed build (``virtfuzz builds``) gets its stock QEMU binaries probed
(the host's libvirt also the variants), each into its own cache; ``--libvirt V`` warms one build.
``scripts/setup.sh`` runs this; it is idempotent and cheap when warm.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time

HELP = "probe every capability variant the fuzzer draws into libvirt's shared cache"
BACKEND_OPTIONS = ("--backend", "--libvirt")  # it probes every variant itself


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=2, help="probing processes (default 2)")


def _minimal_domain(arch: str) -> str:
    """No machine: the arch's default. libvirt accepts it for every binary and variant it could
    probe, so a refusal means the probe failed."""
    return (f"<domain type='qemu'><name>warm-{arch}</name><memory unit='KiB'>65536</memory>"
            f"<os><type arch='{arch}'>hvm</type></os></domain>")


def _probe(variants: list[tuple[str, str | None, tuple[str, ...]]], libvirt_version: str | None) -> list[str]:
    """Define a minimal domain on each; returns what libvirt refused (a failed probe), one line each."""
    from virtfuzz.backends.caps_context import CapsContext
    from virtfuzz.backends.libvirt_backend import LibvirtBackend

    xmls = [CapsContext(version, dels).prepare(_minimal_domain(arch)) for arch, version, dels in variants]
    with LibvirtBackend(libvirt_version) as backend:  # closing saves the new cache entries
        results = backend.define_many(xmls, migratable=False)
    return [f"{arch} {version or 'installed QEMU'} {' '.join(dels)}: {r.error}"
            for (arch, version, dels), r in zip(variants, results, strict=True) if r.kind != "ok"]


def run(args: argparse.Namespace) -> int:
    from contract.backend import BackendUnavailable
    from fuzz.generate import all_capability_variants
    from virtfuzz import buildroots
    from virtfuzz.backends.builds import resolve_build

    if args.backend != "libvirt":
        print("virtfuzz caps-warm: only the libvirt backend probes capabilities", file=sys.stderr)
        return 2
    from fuzz.vocabulary import ARCHES

    # every installed build (or the one --libvirt names): its stock QEMU binaries (version None);
    # the host's libvirt also every fake-QEMU variant
    builds = installed = buildroots.installed()
    if args.libvirt is not None:
        builds = {args.libvirt: installed.get(args.libvirt, {})}
    elif not builds:
        raise BackendUnavailable("libvirt is not installed (run scripts/setup-host.sh)")
    jobs = max(1, args.jobs)
    status = 0
    for version, info in builds.items():
        host = resolve_build(version).host
        arches = [a for a in ARCHES if not info.get("arches") or a in info["arches"]]
        variants: list[tuple[str, str | None, tuple[str, ...]]] = [(a, None, ()) for a in arches]
        if host:
            variants += all_capability_variants()
        t = time.perf_counter()
        shares = [variants[i::jobs] for i in range(jobs)]
        with mp.get_context("spawn").Pool(jobs) as pool:
            refused = [line for lines in pool.starmap(_probe, [(s, version) for s in shares if s])
                       for line in lines]
        for line in refused:
            print(f"virtfuzz caps-warm: libvirt {version}: not probed: {line}", file=sys.stderr)
        what = "QEMU binaries and variants" if host else "QEMU binaries"
        print(f"caps-warm: libvirt {version}: {len(variants) - len(refused)} {what} in libvirt's cache "
              f"({time.perf_counter() - t:.1f} s)")
        status = status or (1 if refused else 0)
    return status
