"""Invariant 6 between oracle profiles: a campaign over several ``--target oracle:V``.

``virtfuzz fuzz --target oracle:1.3.0 --target oracle:1.3.5`` (any number of oracle targets, no
real one) runs the first profile's checks as a single-oracle campaign does, and migrates the
generated cases between each ordered pair of the targets (each batch from one source profile, in
turn, to every other one: with N targets every ordered pair gets every Nth batch, and a batch costs
N-1 migrations per case, not N(N-1)), the way ``virtfuzz migrate --from
oracle:S --to oracle:D`` does: S defines it and formats the migratable XML, D parses that as a
migration destination, D's ABI check compares it with the migratable XML taken as a save image
holds it (``virtfuzz.commands.migrate.open_for_migration``), and both guests are compared as QEMU
gets them (``fuzz.migration``: ``-usb`` as the device QEMU creates for it). *Accepted but the guest
changes* and *refused although it is the same* are findings of the party ``oracle:S->oracle:D``:
the oracle's model of those libvirt releases says the migration breaks. Nothing here is a real
libvirt: the summary's ``answered_by`` says so, and a finding's party names the profiles.

The era profiles all read the same QEMU 7.2 capability sets (``capsets_of`` in 2.2.0.json), so a
machine alias resolves alike on every side: cases are not pinned to a common machine generation
as the real builds' pairs are. Inputs an era does not model are counted as ``oracle-declines``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from fuzz.checks import Failure
from fuzz.migration import check_destination, source_side
from fuzz.observe import Case


def party(src: str, dst: str) -> str:
    return f"oracle:{src}->oracle:{dst}"


class OraclePairs:
    """The oracle backends of a pair campaign, one per profile, kept open for the whole job."""

    def __init__(self, versions: Sequence[str]) -> None:
        from virtfuzz.commands.migrate import open_for_migration
        from virtfuzz.targets import Target

        self.versions = tuple(dict.fromkeys(versions))
        self.backends = {v: open_for_migration(Target("oracle", v)) for v in self.versions}

    def pairs(self) -> list[tuple[str, str]]:
        return [(s, d) for s in self.versions for d in self.versions if s != d]

    def run(self, cases: Sequence[Case], turn: int | None = None) -> tuple[list[tuple[Case, Failure]], dict[str, int],
                                                                       dict[str, int]]:
        """The cases migrated from the source profile whose turn it is (``turn`` modulo the number
        of profiles; None: every profile) to every other one: (case, failure) per finding, cases
        each ordered pair checked, and the outcomes per pair (``PAIR:OUTCOME`` -> count)."""
        xmls = [c.xml for c in cases]
        found: list[tuple[Case, Failure]] = []
        by_pair: dict[str, int] = {}
        migrations: dict[str, int] = {}
        sources_now = self.versions if turn is None else (self.versions[turn % len(self.versions)],)
        for s in sources_now:
            src_outcomes: Counter[str] = Counter()
            sources = source_side(self.backends[s], xmls, src_outcomes)
            for d in self.versions:
                if d == s:
                    continue
                p = party(s, d)
                outcomes = Counter(src_outcomes)
                for i, f in check_destination(self.backends[d], p, sources, outcomes):
                    found.append((Case(xml=xmls[i]), f))
                by_pair[p] = len(xmls)
                migrations.update({f"{p}:{k}": n for k, n in outcomes.items() if n})
        return found, by_pair, migrations

    def close(self) -> None:
        for b in self.backends.values():
            b.close()


def check_one(src: str, dst: str, xml: str) -> list[Failure]:
    """One case migrated from profile ``src`` to ``dst`` (how ``virtfuzz replay`` re-runs a finding)."""
    pairs = OraclePairs([src, dst])
    try:
        sources = source_side(pairs.backends[src], [xml], Counter())
        return [f for _, f in check_destination(pairs.backends[dst], party(src, dst), sources, Counter())]
    finally:
        pairs.close()
