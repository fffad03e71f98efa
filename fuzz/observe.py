"""Run a batch of cases through one backend, collecting every observation the checks need.

Batching is what makes the real libvirt fast enough: defines travel in chunks, and each driver
restart (``load_many``) re-reads a whole batch of definitions at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from contract.backend import Backend
from fuzz.abi_mutations import mutate_destination
from fuzz.checks import Observation
from fuzz.hotplug_effect import added_device


@dataclass(frozen=True)
class Case:
    """One definition to check, and optionally one config hotplug step to apply to it.

    Cases form sequences across batches: when the step is accepted, the definition libvirt stores
    becomes the next batch's case (``after`` = the step), so a domain's life -- attach, detach,
    attach again -- is checked step by step at batch speed. ``history`` is how ``xml`` came about
    (define, then each step): a finding on it replays as a sequence (``fuzz.sequence``).
    """

    xml: str
    device: str | None = None   # device XML for the step
    op: str = "attach"          # attach | detach
    after: str | None = None    # None: a generated domain; else the step whose result ``xml`` is
    history: tuple[tuple[str, str], ...] = ()
    # the capability context the case is drawn for: (recorded QEMU version, deleted flags), or None
    # for the installed QEMU. Generation only names it; the side that runs the case renders it for
    # its build (``virtfuzz.backends.caps_context.render_variants``: the variant's fake QEMU becomes
    # the domain's <emulator>, a path of this machine's data directory).
    variant: tuple[str, tuple[str, ...]] | None = None

    def steps_dicts(self) -> list[dict]:
        return [{"op": op, "xml": x} for op, x in self.history]


def counted_cases(cases: Sequence[Case], obs: Sequence[Observation]) -> int:
    """Cases for throughput: every definition observed (a generated domain, or the result of an
    accepted step, checked now), and every step the backend rejected (checked by its verdict)."""
    return len(cases) + sum(1 for o in obs if o.hotplug is not None and o.hotplug.kind != "ok")


ALL_STEPS = frozenset({"redefine", "reload", "destination", "abi", "abi_pair", "hotplug"})

# What each invariant needs observed, so reducing a failure re-runs only that (see fuzz.reduce).
STEPS_FOR_INVARIANT = {
    "2-idempotent-redefine": frozenset({"redefine"}),
    "3-migratable-roundtrip": frozenset({"reload", "destination", "abi"}),
    "4-hotplug-redefinable": frozenset({"reload", "destination", "abi"}),
    "7-hotplug-does-what-it-says": frozenset({"hotplug"}),
}


def steps_for(invariant: str) -> frozenset[str]:
    return STEPS_FOR_INVARIANT.get(invariant, ALL_STEPS)


def observe(backend: Backend, cases: Sequence[Case], steps: frozenset[str] = ALL_STEPS) -> list[Observation]:
    defined = backend.define_many([c.xml for c in cases])
    obs = [Observation(define=d, after=c.after, step_result=c.xml if c.after else None)
           for c, d in zip(cases, defined, strict=True)]
    ok = [i for i, d in enumerate(defined) if d.kind == "ok"]
    if "redefine" in steps:
        # defining a case's own input again would repeat the same call on the same input: the
        # result of a definition that is already its own stored XML is its re-define (the usual
        # case for the results of sequence steps)
        again = []
        for i in ok:
            if defined[i].xml == cases[i].xml:
                obs[i].redefine = replace(defined[i], migratable=None, migratable_error=None)
            else:
                again.append(i)
        for i, r in zip(again, backend.define_many([defined[i].xml for i in again], migratable=False),
                        strict=True):
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
        for op in ("attach", "detach"):
            ix = [i for i in ok if cases[i].device is not None and cases[i].op == op]
            run = backend.attach_many if op == "attach" else backend.detach_many
            for i, r in zip(ix, run([(defined[i].xml, cases[i].device) for i in ix]), strict=True):
                obs[i].hotplug = r
                obs[i].step = op
                obs[i].device = cases[i].device
        # invariant 7: an accepted attach, undone by detaching the device it added, as stored
        undo = []
        for i in ok:
            h = obs[i].hotplug
            if obs[i].step == "attach" and h is not None and h.kind == "ok" and h.xml and defined[i].xml:
                added = added_device(defined[i].xml, h.xml, cases[i].device or "")
                if added is not None:
                    undo.append((i, added))
        for (i, _), r in zip(undo, backend.detach_many([(obs[i].hotplug.xml, d) for i, d in undo]), strict=True):
            obs[i].undo = r
    return obs
