"""The invariants, each a named function over one case's observations.

A case is observed once on each backend (``Observation``); checks compare observations and return
``Failure`` records. Numbering follows the fuzzing issue:
1. oracle == real libvirt (stored XML, migratable XML, errors, ABI verdicts, reload),
2. idempotence: defining a domain's own stored XML changes nothing,
3. accepted => migratable XML re-parses as a destination, is ABI-stable with the source, and the
   definition survives a driver restart unchanged,
4. after an accepted config attach/detach the stored definition defines again to itself, and 2-3
   hold for it (``fuzz.lifecycle`` feeds it back as a case of the next batch),
6. migration between builds keeps the guest (``fuzz.migration``, run on pairs of builds),
7. an accepted attach/detach changes exactly the device it names (``fuzz.hotplug_effect``).
Observations are keyed by target (``libvirt:9.0.0``, ``oracle:9.0.0``, ``libvirt:12.9.0``) and
``check_targets`` runs the invariants as relations over them: 1 between an oracle profile and the
real build of its version, 2-4 and 7 on each target alone (libvirt bugs on a real build, oracle
bugs on a profile), so a report says which target broke which rule. Migration between targets
(6) is ``fuzz.migration``'s relation over pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from contract.results import AbiResult, DefineResult, XmlResult
from fuzz.xmldiff import first_difference


@dataclass
class Observation:
    """Everything one backend said about one case."""

    define: DefineResult
    redefine: DefineResult | None = None      # define(stored XML)
    reload: XmlResult | None = None           # driver restart re-reading the stored XML
    destination: XmlResult | None = None      # migratable XML parsed as a migration destination
    abi: AbiResult | None = None              # ABI check: source vs its own migratable XML
    abi_pair: AbiResult | None = None         # ABI check: source vs a destination changed in one detail
    abi_pair_what: str | None = None
    hotplug: XmlResult | None = None          # config attach/detach (``step``) of the case's device
    step: str | None = None
    device: str | None = None                 # the device XML of that step
    undo: XmlResult | None = None             # after an accepted attach: detach of the same device
    # set when the definition is the stored result of an accepted hotplug step ("attach"/"detach"):
    # defining it (``define`` above) must give back ``step_result`` unchanged (invariant 4)
    after: str | None = None
    step_result: str | None = None


@dataclass
class Failure:
    invariant: str
    party: str            # "libvirt", "oracle", "oracle-vs-libvirt", or with ":VERSION" for other builds
    message: str
    xpath: str | None = None
    left: str | None = None
    right: str | None = None
    extra: dict = field(default_factory=dict)
    targets: tuple[str, ...] = ()  # the targets it holds for (``libvirt:9.0.0``; two for invariant 1)


def _compare_xml(invariant: str, party: str, what: str, a: str | None, b: str | None,
                 left_name: str, right_name: str) -> list[Failure]:
    if a == b:
        return []
    if a is None or b is None:
        return [Failure(invariant, party, f"{what}: {left_name} has {'none' if a is None else 'one'}, "
                        f"{right_name} has {'none' if b is None else 'one'}", None, a, b)]
    d = first_difference(a, b)
    if d is None:
        return [Failure(invariant, party, f"{what}: differs in formatting only", "/", a, b)]
    return [Failure(invariant, party, f"{what} differs at {d.xpath}: {left_name}={d.left!r} "
                    f"{right_name}={d.right!r}", d.generic_xpath, d.left, d.right)]


def _seen(r) -> bool:
    """A result that was observed and is a verdict (not skipped, not an oracle vocabulary gap)."""
    return r is not None and r.kind != "unsupported"


def _compare_outcome(invariant: str, what: str, o, r) -> list[Failure]:
    """Compare two results of the same operation: kind, error text, then XML."""
    if not _seen(o) or not _seen(r):
        return []
    if o.kind != r.kind:
        return [Failure(invariant, "oracle-vs-libvirt",
                        f"{what}: oracle {o.kind} ({o.error or 'no error'}), "
                        f"libvirt {r.kind} ({r.error or 'no error'})",
                        None, o.error, r.error)]
    if o.kind != "ok":
        if o.error != r.error:
            return [Failure(invariant, "oracle-vs-libvirt", f"{what}: error text differs",
                            None, o.error, r.error)]
        return []
    out = _compare_xml(invariant, "oracle-vs-libvirt", what, getattr(o, "xml", None), getattr(r, "xml", None),
                       "oracle", "libvirt")
    return out


def agree(o: Observation, r: Observation, party: str = "oracle-vs-libvirt") -> list[Failure]:
    """Invariant 1 between an oracle profile's observation ``o`` and the real build's ``r`` of the
    same version; failures are attributed to ``party`` (messages name the sides "oracle" and
    "libvirt", as the signatures of xpath-less failures always have)."""
    fails = _agree(o, r)
    return fails if party == "oracle-vs-libvirt" else [replace(f, party=party) for f in fails]


def _agree(o: Observation, r: Observation) -> list[Failure]:
    inv = "1-oracle-equals-libvirt"
    fails = _compare_outcome(inv, "stored XML", o.define, r.define)
    if fails or o.define.kind != "ok":
        return fails
    fails += _compare_xml(inv, "oracle-vs-libvirt", "migratable XML", o.define.migratable, r.define.migratable,
                          "oracle", "libvirt")
    if o.define.migratable_error != r.define.migratable_error:
        fails.append(Failure(inv, "oracle-vs-libvirt", "migratable XML error differs", None,
                             o.define.migratable_error, r.define.migratable_error))
    fails += _compare_outcome(inv, "reload", o.reload, r.reload)
    fails += _compare_outcome(inv, "migration destination parse", o.destination, r.destination)
    if _seen(o.abi) and _seen(r.abi) and (o.abi.kind, o.abi.error) != (r.abi.kind, r.abi.error):
        fails.append(Failure(inv, "oracle-vs-libvirt", f"ABI verdict: oracle {o.abi.kind} ({o.abi.error}), "
                             f"libvirt {r.abi.kind} ({r.abi.error})", None, o.abi.error, r.abi.error))
    if _seen(o.abi_pair) and _seen(r.abi_pair) and (o.abi_pair.kind, o.abi_pair.error) != \
            (r.abi_pair.kind, r.abi_pair.error):
        fails.append(Failure(inv, "oracle-vs-libvirt",
                             f"ABI verdict on a changed destination ({r.abi_pair_what}): oracle {o.abi_pair.kind} "
                             f"({o.abi_pair.error}), libvirt {r.abi_pair.kind} ({r.abi_pair.error})",
                             "abi/" + "-".join((r.abi_pair_what or "").split(" ")[:2]),
                             o.abi_pair.error, r.abi_pair.error))
    fails += _compare_outcome(inv, f"config {r.step or 'attach'}", o.hotplug, r.hotplug)
    return fails


def idempotent_redefine(obs: Observation, party: str) -> list[Failure]:
    if obs.define.kind != "ok" or not _seen(obs.redefine):
        return []
    inv = "2-idempotent-redefine"
    if obs.redefine.kind != "ok":
        return [Failure(inv, party, f"own stored XML rejected on re-define: {obs.redefine.error}",
                        None, None, obs.redefine.error)]
    return _compare_xml(inv, party, "re-defined stored XML", obs.define.xml, obs.redefine.xml, "first", "again")


def migration_roundtrip_stable(obs: Observation, party: str) -> list[Failure]:
    if obs.define.kind != "ok":
        return []
    inv = "3-migratable-roundtrip"
    if obs.define.migratable_error is not None:
        return [Failure(inv, party, f"accepted domain cannot be formatted migratable: "
                        f"{obs.define.migratable_error}")]
    fails: list[Failure] = []
    if _seen(obs.destination) and obs.destination.kind != "ok":
        fails.append(Failure(inv, party, f"migration destination rejects migratable XML: {obs.destination.error}",
                             None, None, obs.destination.error))
    elif _seen(obs.destination) and obs.destination.xml != obs.define.xml:
        fails += _compare_xml(inv, party, "destination definition", obs.define.xml, obs.destination.xml,
                              "source", "destination")
    if _seen(obs.abi) and obs.abi.kind != "ok":
        fails.append(Failure(inv, party, f"destination not ABI-stable with source: {obs.abi.error}",
                             None, None, obs.abi.error))
    if _seen(obs.reload):
        if obs.reload.kind != "ok":
            fails.append(Failure(inv, party, f"driver restart drops the definition: {obs.reload.error}",
                                 None, None, obs.reload.error))
        else:
            fails += _compare_xml(inv, party, "definition after driver restart", obs.define.xml, obs.reload.xml,
                                  "before", "after")
    return fails


def step_result_redefinable(obs: Observation, party: str) -> list[Failure]:
    """Invariant 4, first half: the definition stored after an accepted attach/detach defines again
    to itself (the second half, "and 2-3 still hold", is ``check_targets`` running 2-3 on it)."""
    if obs.after is None:
        return []
    inv = "4-hotplug-redefinable"
    if obs.define.kind != "ok":
        if not _seen(obs.define):
            return []
        return [Failure(inv, party, f"definition after {obs.after} is rejected on re-define: {obs.define.error}",
                        None, None, obs.define.error)]
    return _compare_xml(inv, party, f"re-defined XML after {obs.after}", obs.step_result, obs.define.xml,
                        f"after {obs.after}", "re-defined")


def _own_checks(obs: Observation, party: str) -> list[Failure]:
    """Invariants 2-4 on one backend's observation. On the result of a hotplug step, failures of 2-3
    are failures of 4 ("after any accepted attach/detach ... still satisfies 2-3")."""
    fails = [f for check in SINGLE_PARTY_CHECKS for f in check(obs, party)]
    if obs.after is None:
        return fails
    return step_result_redefinable(obs, party) + [
        replace(f, invariant="4-hotplug-redefinable", message=f"after {obs.after}: {f.message}") for f in fails]


def _hotplug_effect(obs: Observation, party: str) -> list[Failure]:
    from fuzz.hotplug_effect import hotplug_does_what_it_says  # (it imports this module)

    return hotplug_does_what_it_says(obs, party)


SINGLE_PARTY_CHECKS: tuple[Callable[[Observation, str], list[Failure]], ...] = (
    idempotent_redefine, migration_roundtrip_stable, _hotplug_effect)


def _results(obs: Observation) -> list:
    """Every result one backend produced for a case."""
    return [r for r in (obs.define, obs.redefine, obs.reload, obs.destination, obs.abi, obs.abi_pair,
                        obs.hotplug, obs.undo) if r is not None]


# What counts as a crash of each kind of target (invariant 0): the oracle has no time limit.
CRASH_KINDS: dict[str, tuple[str, ...]] = {"oracle": ("crash",), "libvirt": ("crash", "timeout")}


def check_targets(observations: Mapping[str, Observation | None], primary: str | None = None) -> list[Failure]:
    """Every invariant over one case's observations, keyed by target (``libvirt:9.0.0``,
    ``oracle:9.0.0``; a target that did not observe the case may map to None).

    The checks are relations over targets, not over fixed parties: invariant 1 (``agree``) holds
    between each oracle profile and the real build of the same version, invariants 2-4 and 7 on
    each target alone, 0 (crash) on each target. A failure names its party as signatures always
    have (the campaign's ``primary`` version is the bare kind, ``libvirt``; any other version is
    the full target, ``libvirt:12.9.0``: known findings keep their signatures) and carries the
    full targets it holds for in ``targets``. An oracle failure of 2-4 is dropped when the real
    build of its version fails the same way on the same case: that is fidelity, not an oracle bug.
    """
    obs = {t: o for t, o in observations.items() if o is not None}
    kinds = {t: _split(t) for t in obs}

    def party(t: str) -> str:
        kind, version = kinds[t]
        return kind if version is None or version == primary else t

    fails: list[Failure] = []
    for t, (kind, version) in kinds.items():
        real = _real_of(t, version, obs) if kind == "oracle" else None
        if real is not None:
            p = "oracle-vs-libvirt" if party(t) == "oracle" else f"oracle-vs-libvirt:{version}"
            fails += [replace(f, targets=(t, real)) for f in agree(obs[t], obs[real], p)]
    own = {t: [replace(f, targets=(t,)) for f in _own_checks(obs[t], party(t))] for t in obs}
    for t in _by_kind(kinds, "libvirt"):
        fails += own[t]
    for t in _by_kind(kinds, "oracle"):
        real = _real_of(t, kinds[t][1], obs)
        same = {(f.invariant, f.xpath or f.message) for f in own.get(real, [])} if real else set()
        fails += [f for f in own[t] if (f.invariant, f.xpath or f.message) not in same]
    for kind in ("oracle", "libvirt"):
        for t in _by_kind(kinds, kind):
            for res in _results(obs[t]):
                if res.kind in CRASH_KINDS[kind]:
                    fails.append(Failure(f"0-{kind}-{res.kind}", party(t), res.error or res.kind,
                                         targets=(t,)))
    return fails


def by_target(per_backend: Mapping[str, Observation | None], backends: Mapping) -> dict[str, Observation | None]:
    """Observations keyed by backend name (``oracle``, ``libvirt``) re-keyed by the target each
    backend answers as (``contract.backend.target_name``), for ``check_targets``."""
    from contract.backend import target_name

    return {target_name(backends[n]): o for n, o in per_backend.items()}


def targets_of(f: Failure, primary: str | None) -> list[str]:
    """The full targets a failure holds for: its own ``targets``, else read from its party (a bare
    kind is the ``primary`` version; ``oracle-vs-libvirt`` is both sides; ``A->B`` both ends), so
    failures of the migration, live and order tiers, which name a party only, say it too."""
    if f.targets:
        return list(f.targets)
    out: list[str] = []
    for side in f.party.split("->"):
        kind, _, version = side.partition(":")
        version = version or primary or ""
        kinds = ("oracle", "libvirt") if kind == "oracle-vs-libvirt" else (kind,)
        out += [f"{k}:{version}" if version else k for k in kinds]
    return out


def primary_version(backends: Mapping) -> str | None:
    """The version a run's failures are reported under bare parties: the real build's when there
    is one, else the first backend's (an oracle-only run)."""
    b = backends.get("libvirt") or next(iter(backends.values()))
    return b.version


def _split(target: str) -> tuple[str, str | None]:
    kind, _, version = target.partition(":")
    return kind, version or None


def _real_of(target: str, version: str | None, obs: Mapping[str, Observation]) -> str | None:
    """The real build an oracle target is compared with: the libvirt target of its version."""
    real = f"libvirt:{version}" if version else "libvirt"
    return real if real in obs else None


def _by_kind(kinds: Mapping[str, tuple[str, str | None]], kind: str) -> list[str]:
    return sorted(t for t, (k, _) in kinds.items() if k == kind)
