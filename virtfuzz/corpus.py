"""The regression corpus as data: one reader, so the export, the upstream run and the tests do not
glob ``corpus/cases`` each in their own way (the on-disk layout may change; only this module
should need to follow).

A case today is ``DIR/NAME.json`` (its context: ``op``, ``arch``, ``machine``, ``qemu``,
``caps_del``, ``profile``, ``recorded_with``, ...) next to its input ``NAME.xml`` and whatever the
real build produced: ``NAME.expected.xml`` (stored XML), ``NAME.expected.err`` (rejection),
``NAME.expected.mig.xml`` / ``.mig.err`` (migratable XML), ``NAME.dst.xml`` / ``NAME.dev.xml``
(second input of an ABI or hotplug case).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "cases"

#: expected-output kinds and the file suffix each is stored under
EXPECTED = {
    "xml": ".expected.xml",
    "err": ".expected.err",
    "mig.xml": ".expected.mig.xml",
    "mig.err": ".expected.mig.err",
    "args": ".expected.args",
}


@dataclass(frozen=True)
class CorpusCase:
    name: str                     # unique within the corpus (the file stem)
    topic: str                    # the directory it lives in
    input: Path                   # NAME.xml
    context: dict = field(hash=False)
    expected: dict = field(hash=False)  # kind (see EXPECTED) -> Path, only those that exist

    @property
    def op(self) -> str:
        return self.context.get("op", "")

    @property
    def arch(self) -> str:
        return self.context.get("arch", "")

    @property
    def qemu(self) -> str:
        return self.context.get("qemu") or "7.2.0"

    @property
    def caps_del(self) -> tuple[str, ...]:
        return tuple(self.context.get("caps_del") or ())

    @property
    def libvirt(self) -> str:
        """The libvirt version the expected outputs were recorded with."""
        rec = self.context.get("recorded_with", "")
        if rec.startswith("libvirt "):
            return rec.split()[1]
        return self.context.get("libvirt") or self.context.get("profile") or ""

    def read(self, kind: str) -> str:
        return self.expected[kind].read_text()


def cases(root: Path | str | None = None) -> Iterator[CorpusCase]:
    """Every case under ROOT (default: the repository's corpus), sorted by topic then name."""
    root = Path(root) if root is not None else CORPUS
    for ctx_file in sorted(root.rglob("*.json")):
        stem = ctx_file.name[: -len(".json")]
        base = ctx_file.parent / stem
        inp = base.with_name(stem + ".xml")
        if not inp.is_file():
            continue
        try:
            ctx = json.loads(ctx_file.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(ctx, dict) or "op" not in ctx:
            continue  # not a case context
        expected = {k: base.with_name(stem + suf) for k, suf in EXPECTED.items()
                    if base.with_name(stem + suf).is_file()}
        yield CorpusCase(name=stem, topic=str(ctx_file.parent.relative_to(root)), input=inp,
                         context=ctx, expected=expected)
