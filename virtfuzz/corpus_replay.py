"""Replay corpus cases on a target (a real build or an oracle profile) and compare with what that
build recorded: the engine behind ``virtfuzz corpus replay``, ``tests/test_corpus_libvirt.py`` and
``bench/bench_corpus_replay.py``.

Cases are grouped by operation and capability context and each group goes through the backend's
batch calls (``define_many``, ``load_many``, ``abi_many``, ``attach_many``/``detach_many``), one
backend per context, so the whole corpus replays in one pass over a few worker processes. The
comparison is against the *target's version's* expected outputs (``NAME.<arch>-<V>.expected.*``):
a case with no answer of that version is not replayed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from virtfuzz.backends.caps_context import portable
from virtfuzz.corpus import CorpusCase
from virtfuzz.targets import Target

#: the host build, the only one with capability variants; its QEMU is the corpus's default context
HOST = "9.0.0"
HOST_QEMU = "7.2.0"


@dataclass
class Outcome:
    case: CorpusCase
    status: str              # "pass", "fail" (differs from the recording), "declined" (oracle gap)
    problem: str | None = None


@dataclass
class Report:
    target: str
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0          # this process's CPU plus the backend workers' (children's), seconds

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def summary(self) -> str:
        n = len(self.outcomes)
        rate = n / self.wall if self.wall else 0.0
        return (f"{self.target}: {n} cases, {self.count('pass')} pass, {self.count('fail')} fail, "
                f"{self.count('declined')} declined; {self.wall:.1f} s wall, {self.cpu:.1f} s CPU, {rate:.0f} cases/s")

    def to_dict(self) -> dict:
        return {"target": self.target, "cases": len(self.outcomes), "passed": self.count("pass"),
                "failed": [{"case": o.case.name, "topic": o.case.topic, "problem": o.problem}
                           for o in self.outcomes if o.status == "fail"],
                "declined": [{"case": o.case.name, "topic": o.case.topic, "reason": o.problem}
                             for o in self.outcomes if o.status == "declined"],
                "wall_seconds": round(self.wall, 2), "cpu_seconds": round(self.cpu, 2)}


def context_of(case: CorpusCase, version: str) -> tuple[str | None, tuple[str, ...]]:
    """(QEMU capability variant or None for the build's own QEMU, deleted flags) to replay CASE on
    VERSION with: variants exist on the host build only, whose own QEMU is 7.2.0."""
    q = case.qemu_for(version)
    return (None if version != HOST or q in (None, HOST_QEMU) else q), case.caps_del


def _stock(xml: str | None) -> str | None:
    """A fake-QEMU variant's path (which depends on the data directory) shown as the stock binary,
    as the corpus stores it; the case's context names the variant."""
    return None if xml is None else portable(xml)[0]


def mismatch(case: CorpusCase, version: str, r) -> str | None:
    """Why result R (of CASE's operation) differs from VERSION's recorded answer; None if it does not."""
    exp = case.read_expected(version)
    op = case.op
    if "err" in exp:
        want = exp["err"].strip()
        if r.kind != "error" or r.error != want:
            return f"expected error {want!r}, got {r.kind} {r.error!r}"
        return None
    if op == "abi":
        return None if r.kind == "ok" else f"expected ABI-compatible, got {r.kind} {r.error!r}"
    if r.kind != "ok" or _stock(r.xml) != exp.get("xml"):
        return f"stored XML differs ({r.kind}: {r.error})"
    if op == "define":
        if "mig.err" in exp:
            want = exp["mig.err"].strip()
            if r.migratable is not None or r.migratable_error != want:
                return f"expected migratable error {want!r}, got {r.migratable_error!r}"
        elif _stock(r.migratable) != exp.get("mig.xml"):
            return f"migratable XML differs ({r.migratable_error})"
    return None


def _second(case: CorpusCase, role: str) -> str | None:
    p = case.second(role)
    return p.read_text() if p is not None else None


def run_op(backend, kind: str, op: str, cases: list[CorpusCase]) -> list:
    """Results of CASES (all of operation OP) on BACKEND, through its batch calls."""
    xmls = [c.input.read_text() for c in cases]
    if op == "define":
        return backend.define_many(xmls)
    if op == "load":
        return backend.load_many(xmls)
    if op == "abi":
        return _abi(backend, kind, cases, xmls)
    items = [(x, _second(c, "dev") or "") for c, x in zip(cases, xmls, strict=True)]
    return backend.attach_many(items) if op == "attach" else backend.detach_many(items)


def _abi(backend, kind: str, cases: list[CorpusCase], xmls: list[str]) -> list:
    """The recorder's ABI check: the source defined, its migratable XML in a save image, the
    destination checked against it (no destination: the source's own)."""
    from contract.results import AbiResult

    dsts = [_second(c, "dst") for c in cases]
    if kind == "oracle":  # the oracle's abi defines the source itself
        return backend.abi_many([(x, d or x) for x, d in zip(xmls, dsts, strict=True)])
    defined = backend.define_many(xmls)
    out: list = [None] * len(cases)
    pairs, where = [], []
    for i, (r, d) in enumerate(zip(defined, dsts, strict=True)):
        if r.kind != "ok":
            out[i] = AbiResult(kind=r.kind, error=r.error)
        elif r.migratable is None:
            out[i] = AbiResult(kind="error", error=r.migratable_error)
        else:
            pairs.append((r.migratable, d or r.migratable))
            where.append(i)
    for i, r in zip(where, backend.abi_many(pairs) if pairs else [], strict=True):
        out[i] = r
    return out


def replay(cases: Iterable[CorpusCase], target: Target,
           opener: Callable[..., object] | None = None) -> Report:
    """Replay every case of CASES that has TARGET's version's answer, on TARGET."""
    import os

    from virtfuzz.backends import open_backend

    version = target.version or HOST
    opener = opener or open_backend
    groups: dict[tuple, list[CorpusCase]] = defaultdict(list)
    for c in cases:
        if c.has(version):
            groups[(c.op, *context_of(c, version))].append(c)
    report = Report(target=f"{target.kind}:{version}")
    t0, c0 = time.monotonic(), os.times()
    for (op, qemu, caps_del), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "",
                                                                              kv[0][2])):
        b = opener(target.kind, libvirt_version=version, qemu=qemu, caps_del=caps_del)
        try:
            results = run_op(b, target.kind, op, members)
        finally:
            b.close()
        for c, r in zip(members, results, strict=True):
            if r.kind == "unsupported":
                report.outcomes.append(Outcome(c, "declined", r.error))
            else:
                why = mismatch(c, version, r)
                report.outcomes.append(Outcome(c, "fail" if why else "pass", why))
    c1 = os.times()
    report.wall = time.monotonic() - t0
    report.cpu = sum(c1[:4]) - sum(c0[:4])
    order = {c.name: i for i, c in enumerate(sorted((o.case for o in report.outcomes),
                                                   key=lambda c: (c.topic, c.name)))}
    report.outcomes.sort(key=lambda o: order[o.case.name])
    return report
