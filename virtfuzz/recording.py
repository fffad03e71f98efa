"""Record what a real build answers for corpus cases, with ``scripts/recorder.py`` (libvirt-python
alone: nothing of virtfuzz's backend decides an expected output).

The host's build runs the recorder with this interpreter; another build runs it with the build's
own python3 and libvirt, chrooted in its root (``virtfuzz.buildroots.enter_prefix``, the scratch
directory bind-mounted at its own path). Inputs are copied into a scratch directory first -- a
case with a capability context as the fake-QEMU variant's input (``CapsContext.prepare``), whose
path in libvirt's answers is put back to the stock binary -- so the recorder never writes into the
corpus itself; the caller files the answers (``virtfuzz.corpus.replace_expected``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from virtfuzz import buildroots
from virtfuzz.corpus import EXPECTED, SECOND, CorpusCase
from virtfuzz.inputs import InputError

RECORDER = Path(__file__).resolve().parents[1] / "scripts" / "recorder.py"
HOST_QEMU = "7.2.0"


def build_info(version: str) -> dict:
    builds = buildroots.installed()
    if version not in builds:
        raise InputError(f"libvirt build {version} is not installed (have: {', '.join(builds) or 'none'}; "
                         "virtfuzz builds --install)")
    return builds[version]


def run_recorder(version: str, op: str, inputs: list[Path], out: Path) -> dict[str, str]:
    """``scripts/recorder.py OP --out OUT INPUTS`` on build VERSION: input name -> "ok"/"error"."""
    info = build_info(version)
    results: dict[str, str] = {}
    for i in range(0, len(inputs), 2000):  # keep the command line short
        chunk = [str(p) for p in inputs[i:i + 2000]]
        args = [str(RECORDER), op, "--out", str(out), *chunk]
        if info.get("host"):
            cmd = [sys.executable, *args]
        else:
            binds = [str(RECORDER.parent), str(out.parent)]
            cmd = [*buildroots.enter_prefix(info["root"], binds), "/usr/bin/python3", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise InputError(f"scripts/recorder.py {op} on libvirt {version} failed (exit {proc.returncode}): {tail}")
        for line in proc.stdout.splitlines():
            path, res = line.rsplit(": ", 1)
            word, _, lib = res.partition(" (libvirt ")
            got = int(lib.rstrip(")"))
            if f"{got // 1000000}.{got // 1000 % 1000}.{got % 1000}" != version:
                raise InputError(f"scripts/recorder.py: libvirt {got} answered, not {version}")
            results[Path(path).name[: -len(".xml")]] = word
    missing = [p.name for p in inputs if p.name[: -len(".xml")] not in results]
    if missing:
        raise InputError(f"scripts/recorder.py {op} gave no result for {', '.join(missing[:5])}")
    return results


def record_cases(cases: list[CorpusCase], version: str) -> dict[str, dict[str, str]]:
    """What build VERSION answers for each case: case name -> {kind: text} (see corpus.EXPECTED),
    recorded by the recorder in a scratch directory (one recorder run per operation and
    capability context)."""
    from virtfuzz.backends.caps_context import CapsContext

    groups: dict[tuple, list[CorpusCase]] = defaultdict(list)
    for c in cases:
        q = c.qemu_for(version)
        variant = None if q in (None, HOST_QEMU) or version != "9.0.0" else q
        if (variant or c.caps_del) and not build_info(version).get("host"):
            raise InputError(f"{c.input}: a capability variant, which exists for the host's build only")
        groups[(c.op, variant, c.caps_del)].append(c)
    answers: dict[str, dict[str, str]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="vf-record-", dir="/tmp"))
    try:
        for n, ((op, variant, caps_del), members) in enumerate(groups.items()):
            ctx = CapsContext(variant, caps_del)
            src, out = scratch / f"in{n}", scratch / f"out{n}"
            src.mkdir()
            names = {}
            for c in members:
                text = c.input.read_text()
                (src / f"{c.name}.xml").write_text(ctx.prepare(text) if ctx.active else text)
                for role, suffix in SECOND.items():
                    p = c.second(role)
                    if p is not None:
                        (src / f"{c.name}{suffix}").write_text(p.read_text())
                names[c.name] = _emulator(ctx, text)
            run_recorder(version, op, [src / f"{c.name}.xml" for c in members], out)
            for c in members:
                got = {}
                for kind, suffix in EXPECTED.items():
                    p = out / f"{c.name}{suffix}"
                    if p.is_file():
                        text = p.read_text()
                        stock, variant_path = names[c.name]
                        got[kind] = text.replace(variant_path, stock) if variant_path else text
                answers[c.name] = got
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return answers


def _emulator(ctx, text: str) -> tuple[str | None, str | None]:
    """(stock emulator, the variant's wrapper path) of a prepared input, or (None, None)."""
    import re

    if not ctx.active:
        return None, None
    find = re.compile(r"<emulator>\s*([^<]*?)\s*</emulator>")
    stock, variant = find.search(text), find.search(ctx.prepare(text))
    if not stock or not variant or stock[1] == variant[1]:
        return None, None
    return stock[1], variant[1]
