"""atheris targets (coverage-guided fuzzing of the oracle, and the differential property).

- ``parser``: arbitrary bytes into the oracle's define. Any outcome but a result or a clean
  ``OracleInputError`` (bad input, out of vocabulary) is a bug: the oracle must never crash on input.
- ``differential``: hypothesis' ``fuzz_one_input`` turns atheris' bytes into a generated case
  (structure-aware); the case is observed on the oracle and the real libvirt and every invariant
  is checked. A failure whose signature is not in corpus/known-findings raises.

Usage: python -m fuzz.atheris_targets {parser|differential} [-max_total_time=N] [libFuzzer flags]
(``tox -e atheris`` runs both, time-boxed). The target word is taken out of ``sys.argv`` and the
rest, program name included, goes to libFuzzer, which treats its first element as the program:
passing ``sys.argv[1:]`` made the first flag (``-max_total_time``, ``-runs``) silently vanish.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import oracle

from fuzz.findings import known_signatures


def parser_target() -> None:
    caps = oracle.capset_for("x86_64")
    def one(data: bytes) -> None:
        text = data.decode("utf-8", errors="replace")
        try:
            result = oracle.define(text, caps)
        except oracle.OracleInputError:
            return
        assert result.kind in ("ok", "error"), result

    atheris.Setup(sys.argv, one)  # argv[0] included: libFuzzer skips the first element as the program
    atheris.Fuzz()


def differential_target() -> None:
    from hypothesis import HealthCheck, given, settings

    from fuzz.checks import by_target, check_targets, primary_version
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
        new = [f for f in check_targets(by_target(obs, backends), primary_version(backends))
               if signature(f) not in known]
        assert not new, f"{signature(new[0])}: {new[0].message}"

    def one(data: bytes) -> None:
        prop.hypothesis.fuzz_one_input(data)

    atheris.Setup(sys.argv, one)  # argv[0] included: libFuzzer skips the first element as the program
    atheris.Fuzz()


if __name__ == "__main__":
    target = sys.argv.pop(1) if len(sys.argv) > 1 else "parser"
    {"parser": parser_target, "differential": differential_target}[target]()
