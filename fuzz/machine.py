"""The hypothesis state machine over one domain's life (see ``fuzz.sequence`` for the steps).

A failure whose signature has not been seen raises ``SequenceFailure``; hypothesis then shrinks
the *sequence* (fewer steps, simpler domain and devices) and the minimal failing run is what the
campaign records as a finding with its steps.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from hypothesis import HealthCheck, Phase, assume, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from contract.backend import Backend
from fuzz import detach_forms
from fuzz import strategies as S
from fuzz.checks import Failure
from fuzz.sequence import SequenceRunner, Step
from fuzz.signature import signature


class SequenceFailure(AssertionError):
    def __init__(self, failure: Failure, steps: list[Step]) -> None:
        super().__init__(f"{signature(failure)}: {failure.message}")
        self.failure = failure
        self.steps = list(steps)


def make_machine(backends: dict[str, Backend], is_interesting: Callable[[Failure], bool],
                 counter: list[int], deadline: float = float("inf"),
                 seen: list[SequenceFailure] | None = None) -> type:
    class DomainLife(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = SequenceRunner(backends)
            self.arch = "x86_64"
            self.attached: list[str] = []

        def _run(self, step: Step) -> None:
            if time.monotonic() > deadline:
                return  # out of time: remaining steps (and shrink attempts) pass without running
            counter[0] += 1
            for f in self.runner.run(step):
                if is_interesting(f):
                    failure = SequenceFailure(f, self.runner.steps)
                    if seen is not None:
                        seen.append(failure)
                    raise failure

        @initialize(spec=S.domain_specs())
        def define(self, spec: S.DomainSpec) -> None:
            self.arch = spec.arch
            self._run(Step("define", S.to_xml(spec)))
            assume(self.runner.alive)  # a rejected definition has no life to explore

        @precondition(lambda self: self.runner.alive)
        @rule(data=st.data())
        def attach(self, data: st.DataObject) -> None:
            dev = data.draw(S.device_xml(self.arch))
            self._run(Step("attach", dev))
            self.attached.append(dev)

        @precondition(lambda self: self.runner.alive and self.attached)
        @rule(data=st.data())
        def detach(self, data: st.DataObject) -> None:
            dev = data.draw(st.sampled_from(self.attached))
            self._run(Step("detach", dev))

        @precondition(lambda self: self.runner.alive)
        @rule(data=st.data())
        def detach_present(self, data: st.DataObject) -> None:
            """Detach a device the stored definition has, named in one of the ways users name
            it (fuzz.detach_forms): not only devices this sequence attached itself."""
            ref = "libvirt" if "libvirt" in self.runner.state else next(iter(self.runner.state))
            choices = detach_forms.forms(self.runner.state.get(ref) or "")
            assume(choices)
            _, dev = data.draw(st.sampled_from(choices))
            self._run(Step("detach", dev))

        @precondition(lambda self: self.runner.alive)
        @rule()
        def redefine(self) -> None:
            self._run(Step("redefine"))

        @precondition(lambda self: self.runner.alive)
        @rule()
        def reload(self) -> None:
            self._run(Step("reload"))

        @precondition(lambda self: self.runner.alive)
        @rule(seed=st.integers(0, 2**16))
        def permute(self, seed: int) -> None:
            self._run(Step("permute", str(seed)))

        @precondition(lambda self: self.runner.alive)
        @rule()
        def migrate(self) -> None:
            self._run(Step("migrate"))

    return DomainLife


def run_sequences(backends: dict[str, Backend], is_interesting: Callable[[Failure], bool], seed: int,
                  examples: int = 2, steps: int = 6, seconds: float = 20.0) -> tuple[SequenceFailure | None, int]:
    """Run a few sequences for at most about ``seconds``; returns (failure or None, steps executed).

    The failure is hypothesis' shrunk one when shrinking finished in time, else the smallest
    failing sequence seen so far (shrinking can take many re-runs against the real libvirt).
    """
    counter = [0]
    seen: list[SequenceFailure] = []
    machine = make_machine(backends, is_interesting, counter, time.monotonic() + seconds, seen)
    cfg = settings(max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
                   phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                   report_multiple_bugs=False, print_blob=False)
    random.seed(seed)  # hypothesis draws its seed from the global PRNG for state machines
    try:
        # hypothesis reports a failing run's steps ("Steps leading up to this error: ...") on
        # stdout; here the campaign records the failure itself, so the report is only noise
        with with_reporter(lambda _text: None):
            run_state_machine_as_test(machine, settings=cfg)
    except SequenceFailure as e:
        return e, counter[0]
    except Flaky:
        # the time cap makes every later step a no-op, so hypothesis' final replay of a failing
        # sequence can pass: the failures seen before are the result. Any other exception is a
        # virtfuzz bug and propagates (the job records it as the campaign's own failure).
        pass
    return (min(seen, key=lambda e: len(e.steps)) if seen else None), counter[0]
