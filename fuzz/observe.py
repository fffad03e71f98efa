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
from virtfuzz.results import DefineResult


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
    "4-hotplug-redefinable": frozenset({"hotplug", "reload", "destination", "abi"}),
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
    if "hotplug" in steps:
        _observe_hotplug(backend, cases, obs, ok)
    # Every accepted definition -- each domain, and each domain after its accepted attach -- goes
    # through a driver restart and a migration (destination parse + ABI check); all restarts and
    # destination parses of the batch share one driver start-up.
    targets = [o for i in ok for o in (obs[i], obs[i].after_hotplug) if o is not None]
    reload_of = targets if "reload" in steps else []
    mig = [o for o in targets if o.define.migratable is not None]
    dest_of = mig if "destination" in steps else []
    loaded = backend.load_many([o.define.xml for o in reload_of] + [o.define.migratable for o in dest_of])
    for o, r in zip(reload_of, loaded[:len(reload_of)], strict=True):
        o.reload = r
    for o, r in zip(dest_of, loaded[len(reload_of):], strict=True):
        o.destination = r
    if "abi" in steps:
        for o, r in zip(mig, backend.abi_many([(o.define.migratable, o.define.migratable) for o in mig]),
                        strict=True):
            o.abi = r
    if "abi_pair" in steps:
        pairs = [(i, mutate_destination(defined[i].migratable)) for i in ok if defined[i].migratable is not None]
        pairs = [(i, m) for i, m in pairs if m is not None]
        for (i, m), r in zip(pairs, backend.abi_many([(defined[i].migratable, m[1]) for i, m in pairs]),
                             strict=True):
            obs[i].abi_pair = r
            obs[i].abi_pair_what = m[0]
    return obs


def _observe_hotplug(backend: Backend, cases: Sequence[Case], obs: list[Observation], ok: list[int]) -> None:
    """Config attach; the definition after an accepted attach is re-defined (invariant 4) and then
    observed like a new domain (``after_hotplug``: restart, migration) so 2-3 are checked again.

    Its migratable XML comes from that re-define: when re-defining changes nothing (which the
    check demands) the re-defined domain is the attached one.
    """
    plugged = [i for i in ok if cases[i].device is not None]
    for i, r in zip(plugged, backend.attach_many([(obs[i].define.xml, cases[i].device) for i in plugged]),
                    strict=True):
        obs[i].hotplug = r
    again = [i for i in plugged if obs[i].hotplug.kind == "ok"]
    for i, r in zip(again, backend.define_many([obs[i].hotplug.xml for i in again]), strict=True):
        obs[i].hotplug_redefine = r
        if r.kind == "ok":
            obs[i].after_hotplug = Observation(define=DefineResult(
                kind="ok", xml=obs[i].hotplug.xml, migratable=r.migratable, migratable_error=r.migratable_error))
