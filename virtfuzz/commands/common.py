"""Helpers shared by the sub-commands: opening the backend the options name."""

from __future__ import annotations

import argparse

from contract.backend import Backend
from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import CapsContext
from virtfuzz.inputs import read_domain_file


def backend_from_args(args: argparse.Namespace) -> Backend:
    return open_backend(args.backend, libvirt_version=args.libvirt, qemu=args.qemu,
                        caps_del=tuple(args.caps_del))


def read_domain_inputs(args: argparse.Namespace, files: list[str]) -> list[str]:
    """Each FILE's domain XML, checked before any work starts: readable, well-formed, a known arch,
    and an ``<emulator>`` consistent with ``--qemu``/``--caps-del`` (a contradiction is bad input
    naming the file, never an option silently ignored)."""
    from virtfuzz.backends import variant_libvirt

    ctx = CapsContext(args.qemu, tuple(args.caps_del), libvirt=variant_libvirt(getattr(args, "libvirt", None)))
    return [ctx.prepare(read_domain_file(f), where=str(f)) for f in files]
