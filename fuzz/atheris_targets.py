"""atheris targets (coverage-guided fuzzing of the oracle, and the differential property).

- ``parser``: arbitrary bytes into the oracle's define. Any outcome but a result or a clean
  ``OracleInputError`` (bad input, out of vocabulary) is a bug: the oracle must never crash on input.
- ``differential``: hypothesis' ``fuzz_one_input`` turns atheris' bytes into a generated case
  (structure-aware); the case is observed on the oracle and the real libvirt and every invariant
  is checked. A failure whose signature is not in corpus/known-findings raises.

Usage: python -m fuzz.atheris_targets {parser|differential} [-max_total_time=N] [libFuzzer flags]
(``tox -e atheris`` runs both, time-boxed).
"""

from __future__ import annotations

import os
import sys
import time

import atheris

with atheris.instrument_imports():
    import oracle

from fuzz.findings import known_signatures


def _time_box(argv: list[str]):
    """libFuzzer's ``-max_total_time`` as our own check: atheris ignored it here (a 60 s run went
    on for 300 s). Returns a function to call once per input; past the deadline it prints the
    executions and rate and exits 0, as libFuzzer does when its time is up."""
    limit = next((float(a.split("=", 1)[1]) for a in argv if a.startswith("-max_total_time=")), None)
    start = time.monotonic()
    runs = [0]

    def tick() -> None:
        runs[0] += 1
        if limit is not None and runs[0] % 64 == 0 and time.monotonic() - start > limit:
            secs = time.monotonic() - start
            print(f"virtfuzz atheris: {runs[0]} executions in {secs:.0f} s ({runs[0] / secs:.0f} exec/s), "
                  "time box reached, no crash", file=sys.stderr, flush=True)
            os._exit(0)

    return tick


def parser_target() -> None:
    caps = oracle.capset_for("x86_64")
    tick = _time_box(sys.argv)

    def one(data: bytes) -> None:
        tick()
        text = data.decode("utf-8", errors="replace")
        try:
            result = oracle.define(text, caps)
        except oracle.OracleInputError:
            return
        assert result.kind in ("ok", "error"), result

    atheris.Setup(sys.argv[1:], one)
    atheris.Fuzz()


def differential_target() -> None:
    from hypothesis import HealthCheck, given, settings

    from fuzz.checks import check_case
    from fuzz.generate import cases
    from fuzz.observe import observe
    from fuzz.signature import signature
    from virtfuzz.backends import open_backend

    backends = {n: open_backend(n) for n in ("oracle", "libvirt")}
    known = set(known_signatures())

    @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def prop(case) -> None:
        obs = {n: observe(b, [case])[0] for n, b in backends.items()}
        new = [f for f in check_case(obs["oracle"], obs["libvirt"]) if signature(f) not in known]
        assert not new, f"{signature(new[0])}: {new[0].message}"

    tick = _time_box(sys.argv)

    def one(data: bytes) -> None:
        tick()
        prop.hypothesis.fuzz_one_input(data)

    atheris.Setup(sys.argv[1:], one)
    atheris.Fuzz()


if __name__ == "__main__":
    target = sys.argv.pop(1) if len(sys.argv) > 1 else "parser"
    {"parser": parser_target, "differential": differential_target}[target]()
