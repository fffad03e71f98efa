"""Helpers shared by the sub-commands: opening the backend the options name."""

from __future__ import annotations

import argparse

from virtfuzz.backend import Backend
from virtfuzz.backends import open_backend


def backend_from_args(args: argparse.Namespace) -> Backend:
    return open_backend(args.backend, libvirt_version=args.libvirt, qemu=args.qemu,
                        caps_del=tuple(args.caps_del))
