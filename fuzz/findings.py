"""Findings on disk: written atomically the moment they are found, one directory per signature.

Layout of ``DIR/findings/<signature>/``: ``input.xml`` (reduced reproducer), ``original.xml``
(as generated), ``device.xml`` (hotplug step, if any), ``destination.xml`` (live tier: the
restore definition), ``steps.json`` (for a sequence finding:
the shrunk steps, the first being the define of ``input.xml``) and ``finding.json`` (invariant, party,
message, first differing XPath with both sides, context: backends, versions, capability edits,
seed). ``virtfuzz replay DIR/findings/<signature>`` re-runs it. A directory appears complete or not
at all (built under a temporary name, then renamed), so Ctrl-C never leaves half a finding.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from fuzz.checks import Failure, targets_of

KNOWN_DIR = Path(__file__).resolve().parent.parent / "corpus" / "known-findings"


def known_signatures(directory: Path = KNOWN_DIR) -> dict[str, dict]:
    """Triaged findings kept in the repository: signature -> record (status, explanation)."""
    out = {}
    if directory.is_dir():
        for f in sorted(directory.glob("*/finding.json")):
            rec = json.loads(f.read_text())
            out[rec["signature"]] = rec
    return out


def _failure_of(rec: dict) -> Failure:
    return Failure(rec["invariant"], rec["party"], rec["message"], rec.get("xpath"), rec.get("left"),
                   rec.get("right"))


class KnownFindings:
    """The triaged findings, matched by behaviour.

    A failure is known when its signature is a known finding's, or when it is the oracle or another
    libvirt build (party ``libvirt:V``) breaking an invariant exactly where a known libvirt finding
    breaks it (same invariant and first-difference class, see ``fuzz.signature.behaviour_key``):
    the oracle models that behaviour faithfully, or the build shares it; either way it is that
    known finding ("known, reproduced by the oracle", "known, also on libvirt:V"), not a new one.
    """

    def __init__(self, directory: Path = KNOWN_DIR) -> None:
        from fuzz.signature import behaviour_key

        self._key = behaviour_key
        self.by_signature = known_signatures(directory)
        self.by_behaviour = {behaviour_key(_failure_of(r)): r for r in self.by_signature.values()
                             if r["party"] == "libvirt"}

    def match(self, sig: str, f: Failure) -> tuple[dict, str] | None:
        """(the known record, how it matched: "known" or "known, reproduced by the oracle"), or None."""
        if sig in self.by_signature:
            return self.by_signature[sig], "known"
        if f.party == "oracle" or f.party.startswith(("libvirt:", "oracle:")):
            rec = self.by_behaviour.get(self._key(f))
            if rec is not None:
                how = "reproduced by the oracle" if f.party == "oracle" else f"also on {f.party}"
                return rec, f"known, {how}"
        return None

    def __contains__(self, sig: str) -> bool:
        return sig in self.by_signature


def write_finding(root: Path, sig: str, failure: Failure, original: str, reduced: str,
                  device: str | None, context: dict, steps: list[dict] | None = None,
                  extra: dict[str, str] | None = None) -> Path | None:
    """Create ``root/findings/sig`` atomically and return its path. When it exists already (another
    job of this campaign, or an earlier campaign into the same directory, wrote it) it is left as it
    is and its path returned: the finding is still reported, never silently dropped.

    Inputs that name a fake-QEMU variant's wrapper are stored naming the stock binary, with the
    variant recorded in the context (``qemu``, ``caps_del``): the finding replays on any machine,
    where ``virtfuzz replay`` re-creates the variant (see ``caps_context.portable``).
    """
    final = root / "findings" / sig
    if final.exists():
        return final
    reduced, original, device, steps, extra, context = _portable(reduced, original, device, steps, extra, context)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sig}.", dir=final.parent))
    try:
        (tmp / "input.xml").write_text(reduced)
        (tmp / "original.xml").write_text(original)
        if device is not None:
            (tmp / "device.xml").write_text(device)
        if steps is not None:
            (tmp / "steps.json").write_text(json.dumps(steps, indent=2) + "\n")
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text)
        versions = context.get("versions") or {}
        targets = targets_of(failure, versions.get("libvirt") or versions.get("oracle"))
        record = {"signature": sig, **asdict(failure), "targets": targets, "context": context,
                  "reproduce": f"virtfuzz replay {final}"}
        (tmp / "finding.json").write_text(json.dumps(record, indent=2) + "\n")
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.exists():
            return final
        raise
    return final


def _portable(reduced: str, original: str, device: str | None, steps: list[dict] | None,
              extra: dict[str, str] | None, context: dict):
    from virtfuzz.backends.caps_context import portable

    variants = []

    def fix(text: str) -> str:
        out, variant = portable(text)
        if variant is not None:
            variants.append(variant)
        return out

    reduced, original = fix(reduced), fix(original)
    if steps is not None:
        steps = json.loads(fix(json.dumps(steps)))
    extra = {k: fix(v) for k, v in (extra or {}).items()}
    if variants:
        qemu, caps_del = variants[0]
        context = {**context, "qemu": context.get("qemu") or qemu,
                   "caps_del": list(context.get("caps_del") or caps_del)}
    return reduced, original, device, steps, extra, context


def load_finding(path: Path) -> tuple[dict, str, str | None, list[dict] | None]:
    rec = json.loads((path / "finding.json").read_text())
    device = (path / "device.xml").read_text() if (path / "device.xml").exists() else None
    steps = json.loads((path / "steps.json").read_text()) if (path / "steps.json").exists() else None
    return rec, (path / "input.xml").read_text(), device, steps
