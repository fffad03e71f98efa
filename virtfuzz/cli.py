"""The ``virtfuzz`` command line: one sub-command per module under ``virtfuzz.commands``.

Every sub-command takes the same backend options (``--backend``, ``--libvirt``, ``--qemu``,
``--caps-del``) so a result from one backend can be re-checked on the other by changing one word.
Exit status: 0 success, 1 a verdict (libvirt rejected, ABI mismatch, new findings), 2 usage error
or bad input (one line on stderr naming the file and the problem).
"""

from __future__ import annotations

import argparse
import sys

from contract.backend import BackendUnavailable
from virtfuzz.commands import (
    abi,
    builds,
    caps_flags,
    caps_warm,
    corpus,
    define,
    export,
    fuzz,
    guest,
    matrix,
    merge,
    migrate,
    replay,
)
from virtfuzz.inputs import InputError

COMMANDS = {"define": define, "abi": abi, "fuzz": fuzz, "replay": replay, "export": export,
            "caps-warm": caps_warm, "caps-flags": caps_flags, "builds": builds, "guest": guest,
            "migrate": migrate, "matrix": matrix, "merge": merge, "corpus": corpus}
# (option, attribute) of the shared backend options; a command honours all unless its module
# lists the ones it does in BACKEND_OPTIONS, and giving any other one is a usage error
BACKEND_OPTION_NAMES = (("--backend", "backend"), ("--libvirt", "libvirt"), ("--qemu", "qemu"),
                        ("--caps-del", "caps_del"))


def add_backend_options(p: argparse.ArgumentParser, default: str = "libvirt") -> None:
    g = p.add_argument_group("backend")
    choices = ("libvirt", "oracle", "both") if default == "both" else ("libvirt", "oracle")
    g.add_argument("--backend", choices=choices, default=default,
                   help=f"real libvirt (worker process, embedded driver) or the pure-Python oracle "
                        f"(default: {default})")
    g.add_argument("--libvirt", metavar="VERSION", default=None,
                   help="oracle profile or real libvirt build (default: the installed libvirt)")
    g.add_argument("--qemu", metavar="VERSION", default=None,
                   help="recorded QEMU capability set for the domain's arch (default: installed QEMU)")
    g.add_argument("--caps-del", metavar="FLAG", action="append", default=[],
                   help="remove a libvirt capability flag (repeatable), e.g. piix3-usb-uhci")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="virtfuzz", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, mod in COMMANDS.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        if hasattr(mod, "SUBCOMMANDS"):  # a command group (virtfuzz corpus replay|check|...)
            group = p.add_subparsers(dest="subcommand", required=True)
            for sub_name, sub_mod in mod.SUBCOMMANDS.items():
                sp = group.add_parser(sub_name, help=sub_mod.HELP, description=sub_mod.__doc__)
                add_backend_options(sp, default=getattr(sub_mod, "DEFAULT_BACKEND", "libvirt"))
                sub_mod.add_arguments(sp)
                sp.set_defaults(run=sub_mod.run, module=sub_mod)
            continue
        add_backend_options(p, default=getattr(mod, "DEFAULT_BACKEND", "libvirt"))
        mod.add_arguments(p)
        p.set_defaults(run=mod.run, module=mod)
    return ap


def _ignored_options(args: argparse.Namespace) -> list[str]:
    """The backend options given on the command line that this command would not use."""
    mod = args.module
    honoured = getattr(mod, "BACKEND_OPTIONS", [o for o, _ in BACKEND_OPTION_NAMES])
    defaults = {"backend": getattr(mod, "DEFAULT_BACKEND", "libvirt"), "libvirt": None, "qemu": None,
                "caps_del": []}
    return [opt for opt, attr in BACKEND_OPTION_NAMES
            if opt not in honoured and getattr(args, attr) != defaults[attr]]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "subcommand", None):
        args.command = f"{args.command} {args.subcommand}"
    ignored = _ignored_options(args)
    if ignored:
        print(f"virtfuzz {args.command}: {', '.join(ignored)} has no effect on this command", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except InputError as e:
        print(f"virtfuzz {args.command}: {e}", file=sys.stderr)
        return 2
    except BackendUnavailable as e:
        print(f"virtfuzz {args.command}: backend {args.backend} unavailable: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"virtfuzz {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
