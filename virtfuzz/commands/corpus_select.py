"""Options the ``virtfuzz corpus`` sub-commands share: which corpus (``--root``), which cases
(``--topic``, ``-k``) and which targets (``--target``, or ``--backend``/``--libvirt``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from virtfuzz import corpus
from virtfuzz.inputs import InputError
from virtfuzz.targets import Target, parse_target

DEFAULT_LIBVIRT = "9.0.0"


def add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, metavar="DIR", help="corpus directory (default: corpus/cases)")
    p.add_argument("--topic", action="append", default=[], metavar="TOPIC", help="only this topic (repeatable)")
    p.add_argument("-k", dest="match", default=None, metavar="SUBSTR", help="only cases whose name contains SUBSTR")
    p.add_argument("--op", action="append", default=[], choices=corpus.OPS, help="only this operation (repeatable)")


def add_targets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", action="append", default=[], metavar="KIND:VERSION",
                   help="who answers (repeatable), e.g. libvirt:9.0.0, oracle:9.0.0, libvirt:12.9.0 "
                        "(default: --backend/--libvirt, i.e. libvirt:9.0.0)")


def root_of(args: argparse.Namespace) -> Path:
    root = Path(args.root) if args.root else corpus.CORPUS
    if not root.is_dir():
        raise InputError(f"{root}: no such corpus directory")
    return root


def selected(args: argparse.Namespace) -> list[corpus.CorpusCase]:
    """The cases --root/--topic/-k/--op select (an unknown topic is bad input)."""
    root = root_of(args)
    cases = list(corpus.cases(root))
    topics = sorted({c.topic for c in cases})
    for t in args.topic:
        if t not in topics:
            raise InputError(f"{root}: no topic {t!r} (topics: {', '.join(topics)})")
    return [c for c in cases if (not args.topic or c.topic in args.topic)
            and (args.match is None or args.match in c.name) and (not args.op or c.op in args.op)]


def targets(args: argparse.Namespace, kinds: tuple[str, ...] = ("libvirt", "oracle")) -> list[Target]:
    """--target, or the one --backend/--libvirt name (both at once is a usage error)."""
    if args.target:
        if args.backend != "libvirt" or args.libvirt is not None:
            raise InputError("--target names the backends and versions: drop --backend/--libvirt")
        out = [parse_target(t) for t in args.target]
    else:
        out = [Target(args.backend, args.libvirt)]
    out = [Target(t.kind, t.version or DEFAULT_LIBVIRT) for t in out]
    for t in out:
        if t.kind not in kinds:
            raise InputError(f"target {t}: this command takes {' or '.join(kinds)} targets only")
    return out
