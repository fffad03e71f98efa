"""Oracle vs real libvirt on a corpus of inputs: per-arch agreement figures and the differences.

Used by ``tests/test_differential.py`` and ``scripts/differential-report.py``. The inputs are
(a) libvirt 9.0.0's own ``tests/qemuxml2argvdata`` cases whose name mentions usb, controller, pci or
one of the modelled machines, and (b) generated domains. Agreement is exact: stored XML,
migratable XML and error text byte for byte. Inputs the oracle declines (outside its vocabulary)
are counted separately, never as agreement.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.checks import Observation, agree
from fuzz.signature import signature
from virtfuzz import datadir
from virtfuzz.inputs import domain_arch

UPSTREAM_PATTERN = re.compile(r"usb|controller|pci|pseries|aarch64|s390|riscv|q35|i440fx|mach-virt|virt|arm|ppc",
                              re.IGNORECASE)


def libvirt_source() -> Path:
    return datadir.libvirt_src()


def upstream_cases() -> list[tuple[str, str]]:
    """(name, xml) of the upstream qemuxml2argv inputs in scope, sorted by name."""
    d = libvirt_source() / "tests" / "qemuxml2argvdata"
    out = []
    for p in sorted(d.glob("*.xml")):
        if not UPSTREAM_PATTERN.search(p.stem):
            continue
        text = p.read_text(errors="replace")
        if "<domain type='qemu'" not in text and '<domain type="qemu"' not in text \
                and "<domain type='kvm'" not in text:
            continue
        out.append((p.stem, text))
    return out


@dataclass
class Tally:
    cases: int = 0
    unsupported: int = 0
    stored_equal: int = 0
    migratable_equal: int = 0
    errors_equal: int = 0
    differences: list[tuple[str, str, str]] = field(default_factory=list)  # (case, signature, message)

    @property
    def compared(self) -> int:
        return self.cases - self.unsupported

    @property
    def agreeing(self) -> int:
        return self.compared - len({c for c, _, _ in self.differences})


def compare(names: Sequence[str], xmls: Sequence[str], oracle_backend, libvirt_backend) -> dict[str, Tally]:
    """Define every input on both backends; tally agreement per arch."""
    o_res = oracle_backend.define_many(list(xmls))
    l_res = libvirt_backend.define_many(list(xmls))
    tallies: dict[str, Tally] = defaultdict(Tally)
    for name, xml, o, r in zip(names, xmls, o_res, l_res, strict=True):
        try:
            arch = domain_arch(xml) or "?"
        except Exception:
            arch = "?"
        t = tallies[arch]
        t.cases += 1
        if o.kind == "unsupported":
            t.unsupported += 1
            continue
        fails = agree(Observation(define=o), Observation(define=r))
        if o.kind == r.kind == "ok":
            t.stored_equal += o.xml == r.xml
            t.migratable_equal += o.migratable == r.migratable
        elif o.kind == r.kind:
            t.errors_equal += o.error == r.error
        for f in fails:
            t.differences.append((name, signature(f), f.message))
    return dict(tallies)


def render(tallies: dict[str, Tally]) -> str:
    lines = ["| arch | cases | oracle declined | compared | agree | stored XML equal | migratable equal "
             "| same error |", "|---|---|---|---|---|---|---|---|"]
    total = Tally()
    for arch in sorted(tallies):
        t = tallies[arch]
        lines.append(f"| {arch} | {t.cases} | {t.unsupported} | {t.compared} | {t.agreeing} | {t.stored_equal} "
                     f"| {t.migratable_equal} | {t.errors_equal} |")
        for k in ("cases", "unsupported", "stored_equal", "migratable_equal", "errors_equal"):
            setattr(total, k, getattr(total, k) + getattr(t, k))
        total.differences += t.differences
    lines.append(f"| **all** | {total.cases} | {total.unsupported} | {total.compared} | {total.agreeing} "
                 f"| {total.stored_equal} | {total.migratable_equal} | {total.errors_equal} |")
    sigs = Counter(s for _, s, _ in total.differences)
    if sigs:
        lines += ["", "Differences by signature:", ""]
        example = {s: (c, m) for c, s, m in total.differences}
        for s, n in sigs.most_common():
            c, m = example[s]
            lines.append(f"- `{s}` ×{n}, e.g. `{c}`: {m[:200]}")
    return "\n".join(lines)
