"""Run a batch of cases through one backend, collecting every observation the checks need.

Batching is what makes the real libvirt fast enough: defines travel in chunks, and each driver
restart (``load_many``) re-reads a whole batch of definitions at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fuzz.abi_mutations import mutate_destination
from fuzz.checks import Observation
from virtfuzz.backend import Backend


@dataclass(frozen=True)
class Case:
    xml: str
    device: str | None = None  # a device to config-attach after definition (one hotplug step)

    @property
    def steps(self) -> int:
        """Cases counted for throughput: the domain, plus its hotplug step if any."""
        return 1 + (self.device is not None)


ALL_STEPS = frozenset({"redefine", "reload", "destination", "abi", "abi_pair", "hotplug"})

# What each invariant needs observed, so reducing a failure re-runs only that (see fuzz.reduce).
STEPS_FOR_INVARIANT = {
    "2-idempotent-redefine": frozenset({"redefine"}),
    "3-migratable-roundtrip": frozenset({"reload", "destination", "abi"}),
    "4-hotplug-redefinable": frozenset({"hotplug"}),
}


def steps_for(invariant: str) -> frozenset[str]:
    return STEPS_FOR_INVARIANT.get(invariant, ALL_STEPS)


def observe(backend: Backend, cases: Sequence[Case], steps: frozenset[str] = ALL_STEPS) -> list[Observation]:
    defined = backend.define_many([c.xml for c in cases])
    obs = [Observation(define=d) for d in defined]
    ok = [i for i, d in enumerate(defined) if d.kind == "ok"]
    if "redefine" in steps:
        for i, r in zip(ok, backend.define_many([defined[i].xml for i in ok], migratable=False), strict=True):
            obs[i].redefine = r
    mig = [i for i in ok if defined[i].migratable is not None]
    # driver restart and migration destination: one driver start-up reads both sets
    reload_ix = ok if "reload" in steps else []
    dest_ix = mig if "destination" in steps else []
    loaded = backend.load_many([defined[i].xml for i in reload_ix] + [defined[i].migratable for i in dest_ix])
    for i, r in zip(reload_ix, loaded[:len(reload_ix)], strict=True):
        obs[i].reload = r
    for i, r in zip(dest_ix, loaded[len(reload_ix):], strict=True):
        obs[i].destination = r
    if "abi" in steps:
        for i, r in zip(mig, backend.abi_many([(defined[i].migratable, defined[i].migratable) for i in mig]),
                        strict=True):
            obs[i].abi = r
    if "abi_pair" in steps:
        pairs = [(i, mutate_destination(defined[i].migratable)) for i in mig]
        pairs = [(i, m) for i, m in pairs if m is not None]
        for (i, m), r in zip(pairs, backend.abi_many([(defined[i].migratable, m[1]) for i, m in pairs]),
                             strict=True):
            obs[i].abi_pair = r
            obs[i].abi_pair_what = m[0]
    if "hotplug" in steps:
        plugged = [i for i in ok if cases[i].device is not None]
        for i, r in zip(plugged, backend.attach_many([(defined[i].xml, cases[i].device) for i in plugged]),
                        strict=True):
            obs[i].hotplug = r
        again = [i for i in plugged if obs[i].hotplug.kind == "ok"]
        for i, r in zip(again, backend.define_many([obs[i].hotplug.xml for i in again], migratable=False),
                             strict=True):
            obs[i].hotplug_redefine = r
    return obs
