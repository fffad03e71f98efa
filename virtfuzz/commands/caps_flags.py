"""List the libvirt capability flags ``--caps-del`` can remove, one per line.

Each flag is removed by mutating what the fake QEMU answers to libvirt's probe (a QOM type, a
command, a property: the QMP source libvirt derives the flag from), so the list is exactly the
flags whose source the fake QEMU knows. ``--verbose`` adds each flag's mutations. ``--libvirt V``
lists another build's (its own table, without the flags that build does not follow:
``scripts/sweep-build-flags.py``).
"""

from __future__ import annotations

import argparse

HELP = "list the capability flags --caps-del accepts"
BACKEND_OPTIONS = ("--libvirt",)  # the table is the fake QEMU's for that libvirt, the same for every backend


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true", help="also print how each flag is removed")


def _describe(mutation: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in mutation.items())


def run(args: argparse.Namespace) -> int:
    from virtfuzz.backends import variant_libvirt
    from virtfuzz.fakeqemu import flags

    libvirt = variant_libvirt(args.libvirt)  # an oracle-only profile uses the host's variants
    table = flags.table(libvirt)["flags"]
    refused = flags.unhonoured(libvirt)
    for name in sorted(n for n in table if n not in refused):
        if args.verbose:
            print(f"{name}\t" + "; ".join(_describe(m) for m in table[name]))
        else:
            print(name)
    return 0
