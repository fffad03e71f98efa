"""``virtfuzz corpus add FINDING_DIR [--topic T] [--name NAME] [--op OP] [--why TEXT] [--target
libvirt:VERSION]...``: a campaign finding (``OUT/findings/<signature>/``: ``input.xml``,
``finding.json``, ``device.xml`` for a hotplug step, ``destination.xml`` for an ABI destination)
becomes a corpus case: the input, its second input, a context with the finding's capability
context and provenance (which finding, and why: ``--why``, else the finding's own message), and
the expected outputs each named build records for it (``scripts/recorder.py``; default: the build
the finding was found on). The operation is ``abi`` with a destination, ``attach``/``detach`` with
a device (which one: the finding's step, or ``--op``), else ``define``. The recorded answers are
replayed once on each build before the case is added. Exit status: 0 added; 2 bad input (not a
finding, no arch in the input, the name taken, the same case already there, an answer that does
not replay)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
from pathlib import Path

from virtfuzz import corpus
from virtfuzz.commands.corpus_select import root_of, targets
from virtfuzz.inputs import InputError

HELP = "turn a campaign finding into a corpus case, answers recorded from the real build(s)"
BACKEND_OPTIONS = ("--libvirt",)
HOST_QEMU = "7.2.0"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("finding", metavar="FINDING_DIR")
    p.add_argument("--root", default=None, metavar="DIR", help="corpus directory (default: corpus/cases)")
    p.add_argument("--topic", default=corpus.FINDINGS_TOPIC, help=f"(default: {corpus.FINDINGS_TOPIC})")
    p.add_argument("--name", default=None, help="case name (default: finding-<signature>)")
    p.add_argument("--op", choices=corpus.OPS, default=None, help="operation (default: from the finding's files)")
    p.add_argument("--why", default=None, help="why the case matters (default: the finding's message)")
    p.add_argument("--target", action="append", default=[], metavar="libvirt:VERSION",
                   help="record this build's answers (repeatable; default: the finding's build)")


def _read(d: Path, name: str) -> str | None:
    p = d / name
    return p.read_text() if p.is_file() else None


def _op(args: argparse.Namespace, rec: dict, device: str | None, destination: str | None, where: Path) -> str:
    if args.op:
        return args.op
    if destination is not None:
        return "abi"
    if device is not None:
        ctx = rec.get("context", {})
        for key in ("step", "after"):
            if ctx.get(key) in ("attach", "detach"):
                return ctx[key]
        raise InputError(f"{where}: a device.xml, but the finding names no attach/detach step (give --op)")
    return "define"


def case_from_finding(args: argparse.Namespace) -> tuple[str, dict, str, dict[str, str]]:
    """(name, context without recorded_with, input, second inputs) of the finding directory."""
    d = Path(args.finding)
    rec_text = _read(d, "finding.json")
    xml = _read(d, "input.xml")
    if rec_text is None or xml is None:
        raise InputError(f"{d}: not a finding directory (needs finding.json and input.xml)")
    try:
        rec = json.loads(rec_text)
    except ValueError as e:
        raise InputError(f"{d / 'finding.json'}: not JSON ({e})") from None
    device, destination = _read(d, "device.xml"), _read(d, "destination.xml")
    op = _op(args, rec, device, destination, d)
    second = {"dst": destination} if op == "abi" and destination else {"dev": device} if op in (
        "attach", "detach") and device else {}
    if op in ("attach", "detach") and "dev" not in second:
        raise InputError(f"{d}: an {op} case needs device.xml")
    m = re.search(r"<type\b[^>]*\barch=['\"]([^'\"]+)['\"]", xml)
    if not m:
        raise InputError(f"{d / 'input.xml'}: names no arch (<os><type arch=...>) to file the answers under")
    machine = re.search(r"<type\b[^>]*\bmachine=['\"]([^'\"]+)['\"]", xml)
    fctx = rec.get("context", {})
    sig = rec.get("signature", d.name)
    ctx = {"op": op, "arch": m[1], "machine": machine[1] if machine else "",
           "qemu": fctx.get("qemu") or HOST_QEMU, "caps_del": list(fctx.get("caps_del") or []),
           "provenance": {"source": f"campaign finding {sig} (invariant {rec.get('invariant')}, party "
                                    f"{rec.get('party')}, seed {fctx.get('seed')})",
                          "why": args.why or f"found by the campaign: {rec.get('message', '(no message)')}"},
           "finding": {k: rec[k] for k in ("signature", "invariant", "party", "status") if k in rec}}
    return args.name or f"finding-{sig}", ctx, xml, second


def _replays(scratch: Path, name: str, versions: list[str], finding: Path) -> None:
    """A case whose recorded answer the same build does not give again (an input without <uuid>
    gets a random one, say) would only ever fail: refused."""
    from virtfuzz.corpus_replay import replay
    from virtfuzz.targets import Target

    case = corpus.by_name(scratch)[name]
    for v in versions:
        o = replay([case], Target("libvirt", v)).outcomes[0]
        if o.status != "pass":
            raise InputError(f"{finding}: libvirt {v}'s answer does not replay ({o.problem}); "
                             "is the input missing a <uuid>?")


def run(args: argparse.Namespace) -> int:
    from virtfuzz.recording import record_cases

    root = root_of(args)
    name, ctx, xml, second = case_from_finding(args)
    if args.target:
        versions = [t.version for t in targets(args, kinds=("libvirt",))]
    else:
        rec = json.loads((Path(args.finding) / "finding.json").read_text())
        versions = [args.libvirt or rec.get("context", {}).get("libvirt") or "9.0.0"]
    existing, _ = corpus.check(root)
    taken = {c.name: c for c in existing}
    if name in taken:
        raise InputError(f"{root}: case {name} exists already ({taken[name].topic}/{name}; give --name)")
    ctx["recorded_with"] = {v: f"libvirt {v} (scripts/recorder.py)" for v in versions}
    scratch = Path(tempfile.mkdtemp(prefix="vf-add-"))
    try:  # the case is built and recorded aside, and lands in the corpus whole or not at all
        case = corpus.write_case(scratch, args.topic, name, ctx, xml, second)
        same = {corpus.identity(c): c for c in existing}.get(corpus.identity(case))
        if same is not None:
            raise InputError(f"{args.finding}: the same case is in the corpus already ({same.topic}/{same.name})")
        for v in versions:
            corpus.replace_expected(case, v, record_cases([case], v)[name])
        _replays(scratch, name, versions, Path(args.finding))
        dest = root / args.topic
        dest.mkdir(parents=True, exist_ok=True)
        files = sorted((scratch / args.topic).iterdir(), key=lambda f: f.suffix == ".json")
        for f in files:  # the context last: until it is there, nothing of the case is a case
            shutil.copyfile(f, dest / f.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    added = corpus.by_name(root)[name]
    print(f"{added.topic}/{name}: {ctx['op']} case added, answers of libvirt {', '.join(added.versions)}")
    return 0
