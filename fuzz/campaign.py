"""The campaign behind ``virtfuzz fuzz`` / ``tox -e fuzz``.

Loop: draw a batch, observe it on the oracle and on the real libvirt, check the invariants, and for
every failure with a signature not seen before: reduce the input, write the finding atomically,
record it in the summary. ``--jobs N`` runs N such loops in processes (each owns its own embedded
libvirt root) with seeds seed, seed+1, ...; the parent merges their progress.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fuzz.checks import Failure, by_target, check_targets, primary_version, targets_of
from fuzz.era_pairs import OraclePairs
from fuzz.findings import KnownFindings, write_finding
from fuzz.generate import draw_batch
from fuzz.lifecycle import next_case
from fuzz.live import check_live, check_live_migration, destination_variants
from fuzz.machine import run_sequences
from fuzz.migration import check_pair, pin_machine
from fuzz.observe import ALL_STEPS, Case, counted_cases, observe, steps_for
from fuzz.order_invariance import check_order
from fuzz.reduce import reduce_xml
from fuzz.report import write_report, write_summary
from fuzz.report_junit import write_junit
from fuzz.signature import error_class, signature
from oracle.profile import known_profiles
from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import portable, render_variants
from virtfuzz.backends.embed_root import reap_stale_roots
from virtfuzz.lifeline import die_with_parent, kill_tree, wait_gone

SLOW_TIERS_AFTER = 10.0  # job seconds of generated batches before the first sequence or live round


@dataclass
class CampaignConfig:
    budget: float = 120.0
    seed: int = 0
    jobs: int = 1
    out: Path = Path("out/fuzz")
    backends: tuple[str, ...] = ("oracle", "libvirt")
    libvirt_version: str | None = None
    qemu: str | None = None
    caps_del: tuple[str, ...] = ()
    batch: int = 128  # domains per batch: each batch costs one driver start-up (~80 ms) for its restarts
    variant_rate: float = 0.3  # share of cases run against a fake-QEMU capability variant
    # Shares of each job's time for the slower tiers (the rest goes to generated batches, which
    # also run attach/detach sequences: fuzz.lifecycle): rounds of the hypothesis state machine
    # (define/attach/detach/re-define/restart/migrate in any order, one step at a time), and a few
    # real guests (start, live attach, save, restore). Shares of time rather than every Nth batch,
    # so faster batches do not make the slow tiers dominate, and the live tier stays "sampled at a
    # lower rate" on any machine.
    sequence_share: float = 0.05
    sequence_round_seconds: float = 5.0
    live_share: float = 0.05
    live_cases: int = 2
    reduce_rounds: int = 8
    # A job process is replaced by a fresh one after this long: its memory grows slowly without
    # bound otherwise (measured ~0.5 MB/min per job: hypothesis' per-round state-machine objects,
    # oracle model objects), and a fuzzer is left running for hours (bench/soak.py)
    recycle_seconds: float = 600.0
    order_cases: int = 8  # accepted cases per batch whose devices are permuted (invariant 8)
    junit_xml: Path | None = None  # --junit-xml: one test case per finding signature
    # other real builds (libvirt versions) checked beside the primary one: each generated batch
    # also runs on one of them (invariants 2-3, round robin) and migrates between it and the
    # primary build in alternating directions (invariant 6, fuzz.migration)
    builds: tuple[str, ...] = ()
    # --shard K/N as (K-1, N): this campaign is shard K of N whose union is one campaign of N times
    # the jobs: its job i draws the seeds of job i*N + K-1 (disjoint across shards, whatever --jobs)
    shard: tuple[int, int] = (0, 1)
    # several --target oracle:V and no real one: every generated case also migrates between each
    # ordered pair of these profiles (invariant 6 on the oracle's eras: fuzz.era_pairs)
    oracle_pairs: tuple[str, ...] = ()
    # --max-batches N: each job stops after N rounds (generated batches, sequence and live rounds
    # alike), the budget still bounding the time: a fixed amount of work on a fixed seed, whatever
    # the machine's speed (None: until the budget is spent)
    max_batches: int | None = None

    def context(self) -> dict:
        return {"backends": list(self.backends), "libvirt": self.libvirt_version, "qemu": self.qemu,
                "caps_del": list(self.caps_del),
                **({"oracle_pairs": list(self.oracle_pairs)} if self.oracle_pairs else {})}

    def answered_by(self) -> dict[str, str]:
        """Who answered for each target: an oracle profile (a model) or a real libvirt build."""
        from oracle.profile import DEFAULT_PROFILE

        out: dict[str, str] = {}
        for v in ((self.libvirt_version or DEFAULT_PROFILE,) if "oracle" in self.backends else ()) + self.oracle_pairs:
            out[f"oracle:{v}"] = f"the oracle's model of libvirt {v} (profile oracle/data/{v}.json; no real libvirt)"
        if "libvirt" in self.backends:
            out[f"libvirt:{self.libvirt_version or 'default'}"] = "real libvirt (the primary build)"
        for v in self.builds:
            out[f"libvirt:{v}"] = "real libvirt (another build)"
        return out


@dataclass
class BatchReport:
    job: int
    cases: int
    steps: int
    new: list[dict] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # oracle vocabulary gaps met in this batch
    error: str | None = None
    tier: str = "batch"  # batch | sequence | live
    seconds: float = 0.0
    reduce_seconds: float = 0.0
    # every failure of this batch by signature, already-seen ones included: the parent keeps a
    # count and first/last time per signature, so the output grows with distinct findings only
    hits: dict[str, int] = field(default_factory=dict)
    by_target: dict[str, int] = field(default_factory=dict)  # cases each target checked
    migrations: dict[str, int] = field(default_factory=dict)  # invariant 6 outcomes (fuzz.migration)
    oracle_cpu_seconds: float = 0.0  # CPU the job's threads spent inside oracle backends


_OS_TYPE = re.compile(r"<type arch='([^']*)'(?: machine='([^']*)')?")
_CONTROLLER = re.compile(r"<controller type='([^']*)'([^>]*)>")
_MODEL = re.compile(r" model='([^']*)'")


def _features(case: Case, obs) -> set[str]:
    """What a case exercised: arch/machine family, USB models, error classes (the coverage we report).

    Read with regular expressions from XML that libvirt (or the oracle) formatted, whose attribute
    order is fixed; parsing every stored XML again was a measurable share of a case.
    """
    feats: set[str] = set()
    d = obs.define
    if d.kind == "ok" and d.xml:
        m = _OS_TYPE.search(d.xml)
        if m:
            feats.add(f"machine:{m.group(1)}/{(m.group(2) or '').split('-')[0]}")
        for ctype, attrs in _CONTROLLER.findall(d.xml):
            model = _MODEL.search(attrs)
            feats.add(f"controller:{ctype}/{model.group(1) if model else None}")
    elif d.error and d.kind != "unsupported":
        feats.add(f"error:{error_class(d.error)[:80]}")
    if obs.hotplug is not None:
        feats.add(f"{obs.step}:{obs.hotplug.kind}")
    if case.after is not None:
        feats.add(f"sequence-step:{len(case.history)}")
    return feats


class Job:
    def __init__(self, cfg: CampaignConfig, index: int) -> None:
        self.cfg = cfg
        self.index = index
        self.backends = {name: open_backend(name, libvirt_version=cfg.libvirt_version, qemu=cfg.qemu,
                                            caps_del=cfg.caps_del) for name in cfg.backends}
        self.seen: set[str] = set()
        self.known = KnownFindings()
        self.deadline: float | None = None  # wall-clock end of the campaign (time.time())
        self.tier_seconds: Counter[str] = Counter()
        self.pending: list[Case] = []  # sequences under way: their next case (see fuzz.lifecycle)
        self.rng = random.Random(cfg.seed * 1_000_003 + index)
        self.others = {v: open_backend("libvirt", libvirt_version=v) for v in cfg.builds} \
            if "libvirt" in self.backends else {}
        # The other builds' work runs in a thread beside the primary check: it is mostly waiting
        # for their workers, which would otherwise leave a core idle (measured: the every-build
        # campaign ran at half the CPU it had). It touches only its own backends: the other builds
        # and a second primary-build backend for the migration pairs.
        self.pair_primary = open_backend("libvirt", libvirt_version=cfg.libvirt_version) if self.others else None
        # the oracle checked against each other build it has a profile for (invariant 1 per build)
        self.other_oracles = {v: open_backend("oracle", libvirt_version=v) for v in self.others
                              if "oracle" in self.backends and v in known_profiles()}
        self.cross_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cross-build") \
            if self.others else None
        self.era_pairs = OraclePairs(cfg.oracle_pairs) if len(cfg.oracle_pairs) > 1 else None

    def _all_backends(self) -> list:
        return [*self.backends.values(), *self.others.values(), *self.other_oracles.values(),
                *([self.pair_primary] if self.pair_primary else []),
                *(self.era_pairs.backends.values() if self.era_pairs else [])]

    def close(self) -> None:
        if self.cross_pool is not None:
            self.cross_pool.shutdown(wait=True)
        for b in self._all_backends():
            b.close()
        if self.others:  # the live tier's destination libvirtd (a job process skips atexit)
            from virtfuzz.backends.live_migration import close_all

            close_all()

    def start_live_destinations(self) -> dict[str, str]:
        """Start the live tier's destination libvirtd of every other build now, in this thread
        (the one that runs the live round and keeps their parent-death signal), rather than at
        each build's first draw: a job's processes and descriptors are then flat from its first
        batch (issue 14's soak). ``{version: error}`` of those that cannot start."""
        if not self.others:
            return {}
        from virtfuzz.backends.live_migration import start_all

        return start_all(sorted(self.others))

    def abort(self) -> None:
        """Stop at once (interrupted): workers are killed, not asked to finish."""
        if self.cross_pool is not None:
            self.cross_pool.shutdown(wait=False, cancel_futures=True)
        for b in self._all_backends():
            getattr(b, "abort", b.close)()
        if self.others:
            from virtfuzz.backends.live_migration import close_all

            close_all()

    def check(self, cases: list[Case], parties: tuple[str, ...] | None = None,
              steps: frozenset[str] = ALL_STEPS) -> list[list[Failure]]:
        """Observe ``cases`` on the backends (all, or only ``parties``) and run every check."""
        names = parties or tuple(self.backends)
        obs = {name: observe(self.backends[name], cases, steps) for name in names}
        primary = primary_version(self.backends)
        out = [check_targets(by_target({n: obs[n][i] for n in names}, self.backends), primary)
               for i in range(len(cases))]
        self._last_obs = obs
        return out

    def check_through_step(self, case: Case) -> list[Failure]:
        """Failures of ``case`` and, when its hotplug step is accepted, of the step's stored result
        (checked in the next batch during a campaign): how a reproducer with a device replays."""
        fails = self.check([case])[0]
        ref = (self._last_obs.get("libvirt") or self._last_obs.get("oracle"))[0]
        r = ref.hotplug
        if r is not None and r.kind == "ok" and r.xml is not None:
            fails += self.check([Case(xml=r.xml, after=case.op)])[0]
        return fails

    def next_tier(self) -> str:
        """The tier furthest below its share of this job's time so far (generated batches first)."""
        spent = sum(self.tier_seconds.values())
        if spent < SLOW_TIERS_AFTER:  # a slow round is seconds long: start with batches
            return "batch"
        if self.tier_seconds["sequence"] < self.cfg.sequence_share * spent:
            return "sequence"
        if "libvirt" in self.backends and self.tier_seconds["live"] < self.cfg.live_share * spent:
            return "live"
        return "batch"

    def _oracle_cpu(self) -> float:
        return sum(getattr(b, "cpu_seconds", 0.0) for b in self._all_backends() if b.name == "oracle")

    def run_batch(self, batch_no: int) -> BatchReport:
        t = time.monotonic()
        oracle_cpu = self._oracle_cpu()
        seed = self.cfg.seed * 1_000_003 + self.index * 10_007 + batch_no
        tier = self.next_tier()
        if tier == "sequence":
            rep = self.run_sequences(seed)
        elif tier == "live":
            rep = self.run_live(seed)
        else:
            rep = self.run_generated(seed)
        rep.tier = tier
        rep.seconds = time.monotonic() - t
        rep.oracle_cpu_seconds = self._oracle_cpu() - oracle_cpu
        self.tier_seconds[tier] += rep.seconds
        return rep

    def run_generated(self, seed: int) -> BatchReport:
        """One batch: the next steps of sequences under way, topped up with generated domains."""
        carried, self.pending = self.pending[: self.cfg.batch * 3 // 4], self.pending[self.cfg.batch * 3 // 4:]
        # generation names each case's capability context; the job renders it (the variants
        # drawn are the default build's recordings, rendered as that build's: see render_variants)
        fresh = render_variants(draw_batch(self.cfg.batch - len(carried), seed, self.cfg.variant_rate))
        cases = carried + fresh
        cross = self.cross_pool.submit(self._cross_build, fresh, seed) if self.cross_pool is not None else None
        failures = self.check(cases)
        primary = self._last_obs.get("libvirt") or self._last_obs.get("oracle")
        secondary = self._last_obs.get("oracle") if "libvirt" in self._last_obs else None
        feats: set[str] = set()
        for i, (c, o) in enumerate(zip(cases, primary, strict=True)):
            feats |= _features(c, o)
            nxt = next_case(c, o, secondary[i] if secondary else None, self.rng)
            if nxt is not None:
                self.pending.append(nxt)
        rep = BatchReport(job=self.index, cases=len(fresh), steps=counted_cases(cases, primary),
                          features=sorted(feats))
        for name, b in self.backends.items():
            rep.by_target[_target_name(name, b)] = rep.steps
        for o in self._last_obs.get("oracle", []):
            if o.define.kind == "unsupported":
                rep.unsupported.append(o.define.error or "")
        for case, fails in zip(cases, failures, strict=True):
            for f in fails:
                sig = signature(f)
                if not self._first_time(sig, rep):
                    continue
                t = time.monotonic()
                rec = self._record(sig, f, case, seed)
                rep.reduce_seconds += time.monotonic() - t
                if rec is not None:
                    rep.new.append(rec)
        if "libvirt" in self.backends and self.cfg.order_cases:
            self._order_invariance(fresh, seed, rep)
        if cross is not None:
            self._record_cross(*cross.result(), seed, rep)
        if self.era_pairs is not None:  # invariant 6 between the oracle targets (fuzz.era_pairs)
            self._record_cross(*self.era_pairs.run(fresh, turn=seed), "", seed, rep)
        return rep

    def _order_invariance(self, fresh: list[Case], seed: int, rep: BatchReport) -> None:
        """Invariant 8 on a sample of this batch's accepted generated cases (fuzz.order_invariance)."""
        obs = self._last_obs["libvirt"]
        start = len(obs) - len(fresh)
        accepted = [o.define for o in obs[start:] if o.define.kind == "ok" and o.define.migratable]
        sample = accepted[: self.cfg.order_cases]
        stored = [d.xml or "" for d in sample]
        for i, f, perm in check_order(self.backends["libvirt"], "libvirt", stored,
                                      [d.migratable or "" for d in sample], seed):
            sig = signature(f)
            if not self._first_time(sig, rep):
                continue
            path = write_finding(self.cfg.out, sig, f, stored[i], stored[i], None,
                                 self._context(seed, tier="order"), extra={"permuted.xml": perm})
            rep.new.append(self._new_record(sig, f, path, stored[i], None,
                                            reproduce=f"virtfuzz guest {path}/input.xml; virtfuzz guest "
                                                      f"{path}/permuted.xml; virtfuzz abi {path}/input.xml "
                                                      f"{path}/permuted.xml"))

    def _cross_build(self, cases: list[Case], seed: int) -> tuple[list[tuple[Case, Failure]], dict, dict, str]:
        """The batch's generated cases on one other build (invariants 2-3, its failures carry
        its target as party) and migrated between it and the primary build (invariant 6).
        Runs in the cross-build thread: only the other builds and ``pair_primary`` are used."""
        versions = sorted(self.others)
        version = versions[seed % len(versions)]
        other, primary = self.others[version], self.pair_primary
        assert primary is not None
        # capability variants (fake QEMU) exist for the primary build only: stock cases go across
        stock = [c for c in cases if portable(c.xml)[1] is None]
        party = f"libvirt:{version}"
        found: list[tuple[Case, Failure]] = []
        real = observe(other, stock, CROSS_BUILD_STEPS)
        model = observe(self.other_oracles[version], stock, CROSS_BUILD_STEPS) \
            if version in self.other_oracles else [None] * len(stock)
        for case, o, r in zip(stock, model, real, strict=True):
            # keyed by full target: none is the primary version, so parties are "libvirt:V" etc.
            found += [(case, f) for f in check_targets({f"oracle:{version}": o, party: r}, primary.version)]
        pinned = [(c, x) for c in stock if (x := pin_machine(c.xml)) is not None]
        here = f"libvirt:{primary.version}"
        # the pair's direction turns with the batches: to the other build, back from it, and a
        # save/restore on each build itself (the same build as destination: its ABI check and the
        # guest layout must agree there too, issue "Guest ABI", invariant 6)
        src, dst, pair = [(primary, other, f"{here}->{party}"), (other, primary, f"{party}->{here}"),
                          (primary, primary, f"{here}->{here}"),
                          (other, other, f"{party}->{party}")][(seed // len(versions)) % 4]
        outcomes: Counter[str] = Counter()
        for i, f in check_pair(src, dst, pair, [x for _, x in pinned], outcomes):
            found.append((Case(xml=pinned[i][1]), f))
        by_target = {party: len(stock), **({f"oracle:{version}": len(stock)} if version in self.other_oracles else {})}
        return found, by_target, {f"{pair}:{k}": n for k, n in outcomes.items()}, version

    def _first_time(self, sig: str, rep: BatchReport) -> bool:
        """Count one occurrence of ``sig`` in this batch; True the first time this job sees it."""
        rep.hits[sig] = rep.hits.get(sig, 0) + 1
        if sig in self.seen:
            return False
        self.seen.add(sig)
        return True

    def _record_cross(self, found: list[tuple[Case, Failure]], by_target: dict, migrations: dict, version: str,
                      seed: int, rep: BatchReport) -> None:
        """Record the cross-build thread's failures (in the job's thread: ``seen`` is not shared)."""
        rep.by_target.update(by_target)
        rep.migrations = migrations
        for case, f in found:
            sig = signature(f)
            if not self._first_time(sig, rep):
                continue
            context = self._context(seed, tier="cross-build", target=f.party)
            path = write_finding(self.cfg.out, sig, f, case.xml, case.xml, None, context)
            if path is not None:
                how = (f"virtfuzz migrate --from {f.party.replace('->', ' --to ')} {path}/input.xml"
                       if "->" in f.party else f"virtfuzz define --libvirt {version} {path}/input.xml")
                rep.new.append(self._new_record(sig, f, path, case.xml, None, reproduce=how))

    def run_live(self, seed: int) -> BatchReport:
        """Real guests from a few generated cases libvirt accepts; invariant 5 (see fuzz.live)."""
        rng = random.Random(seed)
        lv = self.backends["libvirt"]
        batch = draw_batch(self.cfg.batch, seed)
        accepted = lv.define_many([c.xml for c in batch])
        cases = [c for c, r in zip(batch, accepted, strict=True) if r.kind == "ok"][: self.cfg.live_cases]
        rep = BatchReport(job=self.index, cases=0, steps=0, features=["tier:live"])
        for case in cases:
            devices = [case.device] if case.device and not case.device.lstrip().startswith("<controller") else []
            first = lv.live(case.xml, devices)
            rep.steps += 1 + len(devices)
            found = [(f, None) for f in check_live(first, "as sent")]
            if first.get("kind") == "ok" and first.get("restore_xml"):
                for what, dst in destination_variants(first["restore_xml"], rng)[1:]:
                    found += [(f, dst) for f in check_live(lv.live(case.xml, devices, dst), what)]
                    rep.steps += 1
            for f, dst in found:
                sig = signature(f)
                if not self._first_time(sig, rep):
                    continue
                context = self._context(seed, tier="live", live_devices=devices)
                extra = {"destination.xml": dst} if dst else {}
                path = write_finding(self.cfg.out, sig, f, case.xml, case.xml, case.device, context, extra=extra)
                if path is not None:
                    rep.new.append(self._new_record(sig, f, path, case.xml, case.device))
        if self.others and cases:
            self._live_migration(cases[0], seed, rep)
        return rep

    def _live_migration(self, case: Case, seed: int, rep: BatchReport) -> None:
        """Invariant 6 on a real live migration of one case (pinned to the common machine
        generation) from the primary build to another build's libvirtd (fuzz.live). In the job's
        thread, between batches: the cross-build thread is idle (run_generated waits for it)."""
        versions = sorted(self.others)
        version = versions[seed % len(versions)]
        xml = pin_machine(case.xml)
        if xml is None:
            return
        checked = self.live_migration_check(xml, version)
        if checked is None:
            return
        failures, verdict, outcome, pair = checked
        lv = self.backends["libvirt"]
        rep.steps += 1
        rep.migrations[f"live:{pair}:{outcome}"] = rep.migrations.get(f"live:{pair}:{outcome}", 0) + 1
        for f in failures:
            sig = signature(f)
            if not self._first_time(sig, rep):
                continue
            context = self._context(seed, tier="live-migration", target=pair)
            extra = {"destination.xml": verdict["destination_xml"]} if verdict.get("destination_xml") else {}
            path = write_finding(self.cfg.out, sig, f, xml, xml, None, context, extra=extra)
            if path is not None:
                rep.new.append(self._new_record(sig, f, path, xml, None, reproduce=(
                    f"virtfuzz migrate --live --from libvirt:{lv.version} --to libvirt:{version} {path}/input.xml")))

    def live_migration_check(self, xml: str, version: str) -> tuple[list[Failure], dict, str, str] | None:
        """Define ``xml`` on the primary build, have build ``version`` parse and ABI-check its
        migratable XML, then migrate it live there: (failures of invariant 6, the migration's
        verdict, its outcome, the pair), or None when a step before the migration refuses."""
        from virtfuzz.backends.live_migration import summarize

        lv, other = self.backends["libvirt"], self.others[version]
        (d,) = lv.define_many([xml])
        if d.kind != "ok" or d.migratable is None:
            return None
        (loaded,) = other.load_many([d.migratable])
        if loaded.kind != "ok":
            return None
        (abi,) = other.abi_many([(d.migratable, loaded.xml or "")])
        result = lv.migrate_live(d.xml or xml, version)
        verdict = summarize(result)
        pair = f"libvirt:{lv.version}->libvirt:{version}"
        outcome = "ok" if verdict["ok"] else f"fails-at-{result.get('stage') or 'layout'}"
        return check_live_migration(result, verdict, abi.kind == "ok", pair), verdict, outcome, pair

    def _context(self, seed: int, **extra: object) -> dict:
        """What a finding records about where it came from (replay re-opens backends from it)."""
        return {**self.cfg.context(), "seed": seed, "job": self.index,
                "versions": {n: getattr(b, "version", None) for n, b in self.backends.items()}, **extra}

    def _new_record(self, sig: str, f: Failure, path: Path, xml: str, device: str | None,
                    **extra: object) -> dict:
        """The summary/report entry of a finding just written to ``path``."""
        match = self.known.match(sig, f)
        return {"signature": sig, "invariant": f.invariant, "party": f.party,
                "targets": targets_of(f, primary_version(self.backends)),
                "message": f.message,
                "xpath": f.xpath, "left": f.left, "right": f.right, "path": str(path), "input": xml,
                "device": device, "reproduce": f"virtfuzz replay {path}", "known": match is not None,
                "known_as": match[0]["signature"] if match else None, "known_how": match[1] if match else None,
                **extra}

    def run_sequences(self, seed: int) -> BatchReport:
        """A round of state-machine sequences; a new failure comes back shrunk by hypothesis."""
        def interesting(f: Failure) -> bool:
            return signature(f) not in self.seen

        budget = self.cfg.sequence_round_seconds
        if self.deadline:
            budget = max(1.0, min(budget, self.deadline - time.time()))
        failure, steps = run_sequences(self.backends, interesting, seed, seconds=budget)
        rep = BatchReport(job=self.index, cases=0, steps=steps, features=["tier:sequence"])
        if failure is not None:
            sig = signature(failure.failure)
            rep.hits[sig] = 1
            self.seen.add(sig)
            step_dicts = [s.to_dict() for s in failure.steps]
            first = step_dicts[0]["xml"] or ""
            context = self._context(seed, tier="sequence")
            path = write_finding(self.cfg.out, sig, failure.failure, first, first, None, context, step_dicts)
            if path is not None:
                rep.new.append(self._new_record(sig, failure.failure, path, first, None,
                                                steps=[s["op"] for s in step_dicts]))
        return rep

    def _record(self, sig: str, f: Failure, case: Case, seed: int) -> dict | None:
        if case.after is not None:
            return self._record_sequence_step(sig, f, case, seed)
        # only the party at fault and the steps its invariant needs are re-run while reducing
        # (an oracle failure is one libvirt does not share on that case: that needs both observed)
        parties = ("libvirt",) if f.party == "libvirt" else tuple(self.backends)
        steps = steps_for(f.invariant)

        def still_fails(xmls: list[str]) -> list[bool]:
            results = self.check([Case(xml=x, device=case.device, op=case.op) for x in xmls], parties, steps)
            return [any(signature(g) == sig for g in fails) for fails in results]

        # a known finding already has its reproducer in the repository: record it, do not reduce it
        reduced = case.xml if self.known.match(sig, f) else reduce_xml(case.xml, still_fails, self.cfg.reduce_rounds)[0]
        path = write_finding(self.cfg.out, sig, f, case.xml, reduced, case.device, self._context(seed))
        return None if path is None else self._new_record(sig, f, path, reduced, case.device)

    def _record_sequence_step(self, sig: str, f: Failure, case: Case, seed: int) -> dict | None:
        """A failure on the stored result of a sequence step. Not reduced: a smaller XML would no
        longer be what libvirt stored (invariant 4 is about exactly that XML); the steps that led to
        it are kept in history.json, and the case replays on its own (context: step, after)."""
        history = json.dumps(case.steps_dicts(), indent=2) + "\n"
        context = self._context(seed, tier="sequence-step", after=case.after, step=case.op)
        path = write_finding(self.cfg.out, sig, f, case.history[0][1], case.xml, case.device, context,
                             extra={"history.json": history})
        return None if path is None else self._new_record(sig, f, path, case.xml, case.device,
                                                          steps=[op for op, _ in case.history])


# what the other builds observe of each case: the per-target invariants 2-3 without the second
# driver restart and the mutated-destination ABI pairs (those stay with the primary build)
CROSS_BUILD_STEPS = frozenset({"redefine", "destination", "abi"})


def _target_name(name: str, backend) -> str:
    return f"{name}:{getattr(backend, 'version', None) or 'default'}"


def _stop_job(signum: int, frame) -> None:
    """SIGTERM from the campaign parent (or from the kernel when the parent died): stop now."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)  # one stop is enough; the parent kills what lingers
    raise KeyboardInterrupt


def _job_main(cfg: CampaignConfig, index: int, deadline: float, queue, parent: int | None = None,
              first_batch: int = 0) -> None:
    """One job process: batches from ``first_batch`` until the deadline or, for long campaigns,
    until it is due to be replaced (``recycle_seconds``: it then hands its next batch number to
    the parent, which starts a fresh process that goes on from there)."""
    signal.signal(signal.SIGTERM, _stop_job)
    die_with_parent(signal.SIGTERM, parent)
    job = None
    interrupted = False
    recycle_at = time.time() + cfg.recycle_seconds
    n = first_batch
    try:
        job = Job(cfg, index)
        job.deadline = deadline
        job.start_live_destinations()
        # at least one batch, however slow the start-up (unless --max-batches is already reached)
        while not _batches_done(cfg, n) and (n == first_batch or time.time() < min(deadline, recycle_at)):
            try:
                queue.put(asdict(job.run_batch(n)))
            except Exception as e:  # report and keep fuzzing: one bad batch must not end the campaign
                queue.put(asdict(BatchReport(job=index, cases=0, steps=0, error=f"{type(e).__name__}: {e}")))
            n += 1
    except KeyboardInterrupt:  # Ctrl-C (the process group) or SIGTERM from the parent: stop quietly
        interrupted = True
    finally:
        if job is not None:
            job.abort() if interrupted else job.close()
        if interrupted:
            queue.cancel_join_thread()  # exit now even if the parent no longer reads the queue
        elif time.time() < deadline and not _batches_done(cfg, n):
            queue.put({"job": index, "recycle": True, "next_batch": n, "pid": os.getpid()})
        else:
            queue.put({"job": index, "done": True})


def _batches_done(cfg: CampaignConfig, n: int) -> bool:
    """Has a job whose next round is number ``n`` done its ``max_batches``?"""
    return cfg.max_batches is not None and n >= cfg.max_batches


class CampaignStopped(BaseException):
    """The parent received SIGINT, SIGTERM or SIGHUP (a BaseException: no ``except Exception``
    on the way, such as the queue poll's, may swallow it)."""


def _stop_jobs(procs: list, grace: float) -> None:
    """Every job process and everything below it gone, and their embed roots removed.

    Jobs get SIGTERM (they kill their libvirt workers and remove their roots); after ``grace``
    seconds what is left of the tree is killed, and roots whose owner died with it are removed.
    """
    started = [p for p in procs if p.pid is not None]
    if grace < 30.0:
        for p in started:
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
    for p in started:
        p.join(timeout=grace)
    left = [p.pid for p in started if p.is_alive()]
    below = [q for p in started for q in _tree(p.pid)]
    if left or below:
        kill_tree(left + below)
        wait_gone(left + below, 5.0)
    for p in started:
        p.join(timeout=1.0)
    reap_stale_roots()


def _tree(pid: int) -> list[int]:
    from virtfuzz.lifeline import descendants

    return descendants(pid)


def run_campaign(cfg: CampaignConfig, progress=None) -> tuple[dict, int]:
    """Run until the budget is spent (or Ctrl-C); returns (summary, exit status).

    ``progress`` defaults to the current ``sys.stderr`` (looked up per call: a default bound at
    import time can be a stream that pytest's capture has closed since)."""
    progress = progress or sys.stderr
    cfg.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    deadline = start + cfg.budget
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_job_main, args=(cfg, i * cfg.shard[1] + cfg.shard[0], deadline, queue, os.getpid()),
                         daemon=True)
             for i in range(cfg.jobs)]
    stopped_by: list[str] = []
    recycled = 0

    def on_stop(signum: int, frame) -> None:
        stopped_by.append(signal.Signals(signum).name)
        raise CampaignStopped

    # explicitly, also for SIGINT: a shell starts background jobs with SIGINT ignored, and then
    # Python installs no KeyboardInterrupt handler, so `kill -INT <parent>` would do nothing
    cases = steps = 0
    records: list[dict] = []
    seen: set[str] = set()
    seen_counts: dict[str, dict] = {}  # signature -> {"count", "first_seen", "last_seen"} (seconds)
    by_target: Counter[str] = Counter()
    migrations: Counter[str] = Counter()
    features: Counter[str] = Counter()
    unsupported: Counter[str] = Counter()
    tier_seconds: Counter[str] = Counter()
    tier_cases: Counter[str] = Counter()
    oracle_cpu = [0.0]
    errors: list[str] = []
    done = 0
    tty = progress.isatty()
    lead = "\r" if tty else ""
    last_line = 0.0

    def summary() -> dict:
        secs = time.time() - start
        return {"cases": steps, "domains": cases, "seconds": round(secs, 2), "jobs": cfg.jobs,
                "seed": cfg.seed, "backends": list(cfg.backends), "context": cfg.context(),
                "findings": [{**{k: r.get(k) for k in ("signature", "invariant", "message", "path", "party",
                                                       "targets", "known", "known_as")},
                              **seen_counts.get(r["signature"], {})}
                             for r in records],
                "new_findings": sum(1 for r in records if not r["known"]),
                "rules_covered": sorted(features), "batch_errors": errors[:20],
                "oracle_unsupported": dict(unsupported.most_common()),
                "job_seconds_by_tier": {k: round(v, 1) for k, v in tier_seconds.items()},
                "cases_by_tier": dict(tier_cases), "cases_by_target": dict(by_target),
                "builds": list(cfg.builds), "migration_outcomes": dict(sorted(migrations.items())),
                "shard": f"{cfg.shard[0] + 1}/{cfg.shard[1]}", "jobs_recycled": recycled,
                "oracle_cpu_seconds": round(oracle_cpu[0], 2), "interrupted": bool(stopped_by),
                "answered_by": cfg.answered_by(), "real_libvirt": "libvirt" in cfg.backends}

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for p in procs:
            p.start()
        while done < cfg.jobs:
            try:
                msg = queue.get(timeout=1.0)
            except Exception:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if msg.get("done"):
                done += 1
                continue
            if msg.get("recycle"):  # a long-running job's replacement goes on where it stopped
                fresh = ctx.Process(target=_job_main, args=(cfg, msg["job"], deadline, queue, os.getpid(),
                                                            msg["next_batch"]), daemon=True)
                procs.append(fresh)
                fresh.start()
                recycled += 1
                # the replaced process exits right after its message: join and release it now
                # rather than keep one Process (and its sentinel) per replacement until the end
                for old in [p for p in procs if p.pid == msg.get("pid")]:
                    old.join(timeout=5.0)
                    if old.exitcode is not None:
                        old.close()
                        procs.remove(old)
                continue
            cases += msg["cases"]
            steps += msg["steps"]
            features.update(msg["features"])
            unsupported.update(msg.get("unsupported", []))
            tier_seconds[msg.get("tier", "batch")] += msg.get("seconds", 0.0)
            tier_seconds["reduction"] += msg.get("reduce_seconds", 0.0)
            tier_cases[msg.get("tier", "batch")] += msg["steps"]
            oracle_cpu[0] += msg.get("oracle_cpu_seconds", 0.0)
            if msg.get("error"):
                errors.append(msg["error"])
            for target, n in msg.get("by_target", {}).items():
                by_target[target] += n
            migrations.update(msg.get("migrations", {}))
            at = round(time.time() - start, 1)
            for sig, n in msg.get("hits", {}).items():
                entry = seen_counts.setdefault(sig, {"count": 0, "first_seen": at, "last_seen": at})
                entry["count"] += n
                entry["last_seen"] = at
            for rec in msg["new"]:
                if rec["signature"] not in seen:
                    seen.add(rec["signature"])
                    records.append(rec)
            s = summary()
            write_summary(cfg.out, s)
            now = time.time()
            if tty or now - last_line >= 10:
                last_line = now
                rate = steps / max(now - start, 1e-9)
                print(f"{lead}[{now - start:5.0f}s] cases {steps} ({rate:.0f}/s) "
                      f"findings {len(records)} (new {s['new_findings']}) rules {len(features)}",
                      end="" if tty else "\n", file=progress, flush=True)
    except (KeyboardInterrupt, CampaignStopped):
        stopped_by = stopped_by or ["SIGINT"]
    finally:
        for sig in previous:  # a second signal while stopping must not cut the summary short
            signal.signal(sig, signal.SIG_IGN)
        _stop_jobs(procs, grace=3.0 if stopped_by else 30.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    s = summary()
    if stopped_by:
        s["interrupted"] = True
        s["stopped_by"] = stopped_by[0]
        print(f"\ninterrupted by {stopped_by[0]}: every campaign process stopped; findings so far are on disk",
              file=progress)
    write_summary(cfg.out, s)
    write_report(cfg.out, s, records)
    if cfg.junit_xml is not None:
        write_junit(cfg.junit_xml, s, records)
    print(f"\n{steps} cases in {s['seconds']:.0f} s, {len(records)} findings ({s['new_findings']} new); "
          f"{cfg.out / 'summary.json'}, {cfg.out / 'report.md'}", file=progress)
    if stopped_by:
        return s, 128 + signal.Signals[stopped_by[0]].value
    # 2: the campaign itself malfunctioned (a batch raised: a virtfuzz bug); 1: new findings
    status = 2 if errors else (1 if s["new_findings"] else 0)
    return s, status


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 2))
