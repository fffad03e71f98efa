"""The suite fails for the right reasons (issue 13's "done when"), shown by running its own checks
on deliberately broken inputs:

- a wrong expected output in each corpus op kind (define, load, abi, attach, detach, migratable):
  one real case per kind is copied to a temporary corpus twice, one copy left as recorded and one
  with the expectation tampered; both go through ``virtfuzz.corpus_replay.replay`` (what
  tests/test_corpus_libvirt.py runs the corpus through) on the real libvirt and on the oracle, and
  through tests/test_oracle_unit.py's ``test_golden``: the recorded copy passes, the tampered fails;
- a removed libvirt build (a data directory without the build roots; libvirt-python that cannot be
  imported) with ``CI`` set: the tests that need it FAIL, even with VIRTFUZZ_SKIP_LIBVIRT=1 (a
  pytest run in a subprocess);
- an oracle that declines one more golden case than tests/oracle_declined.txt pins: the pin fails;
- a skip in CI outside the allow-list (tests/conftest.py ``SKIP_ALLOWED``) fails the run, and
  hypothesis runs derandomised there.

None of the expectations below is taken from the code under test: the tampering is a fixed edit,
and "fails" is the check's own verdict on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import oracle
from oracle import OracleUnsupported
from tests import test_oracle_unit
from virtfuzz import buildroots, corpus, corpus_replay
from virtfuzz.targets import Target

REPO = Path(__file__).resolve().parent.parent
LIBVIRT = "9.0.0"
HOST_QEMU = "7.2.0"

# (test id, op, the expected kind the chosen case has (None: an ABI check recorded as compatible,
# which leaves no file), the kind that is tampered)
TAMPERS = [
    ("define-stored-xml", "define", "xml", "xml"),
    ("define-error", "define", "err", "err"),
    ("load-stored-xml", "load", "xml", "xml"),
    ("load-error", "load", "err", "err"),
    ("abi-compatible", "abi", None, "err"),
    ("abi-incompatible", "abi", "err", "err"),
    ("attach-stored-xml", "attach", "xml", "xml"),
    ("attach-error", "attach", "err", "err"),
    ("detach-stored-xml", "detach", "xml", "xml"),
    ("detach-error", "detach", "err", "err"),
    ("migratable-xml", "define", "mig.xml", "mig.xml"),
    ("migratable-error", "define", "mig.err", "mig.err"),
]
WRONG_ABI_ERROR = ("unsupported configuration: Target USB controller model qemu-xhci does not match "
                   "source piix3-uhci\n")


def _stock(case: corpus.CorpusCase) -> bool:
    """Replayed on the host build's own QEMU (no capability variant), answered by the oracle."""
    return (case.has(LIBVIRT) and case.qemu_for(LIBVIRT) in (None, HOST_QEMU) and not case.caps_del
            and case.name not in test_oracle_unit.DECLINED)


def _pick(op: str, has: str | None, taken: set[str] = frozenset()) -> corpus.CorpusCase:
    """The first case (by topic and name, not in TAKEN) of OP whose recorded 9.0.0 answer has kind HAS."""
    for case in corpus.cases():
        kinds = set(case.expected_for(LIBVIRT)) if case.has(LIBVIRT) else set()
        if case.op == op and _stock(case) and (has in kinds if has else not kinds) and case.name not in taken:
            return case
    raise AssertionError(f"no {op} case with a recorded {has or 'compatible'} answer in the corpus")


def _wrong(kind: str, text: str | None) -> str:
    """A plausible but wrong expectation: one word more in an error, one device more in an XML."""
    if text is None:  # recorded as ABI-compatible: now "expected" to be refused
        return WRONG_ABI_ERROR
    if kind.endswith("err"):
        return text.rstrip("\n") + " (tampered)\n"
    assert "</devices>" in text
    return text.replace("</devices>", "  <hub type='usb'/>\n  </devices>", 1)


def _copy(case: corpus.CorpusCase, root: Path) -> corpus.CorpusCase:
    """CASE's files (context, inputs, every build's expected outputs) into corpus ROOT, read back
    through virtfuzz.corpus and checked to be the same case."""
    dest = root / case.topic
    dest.mkdir(parents=True, exist_ok=True)
    for f in case.dir.iterdir():
        if f.name.startswith(f"{case.name}.") and f.is_file():
            shutil.copy2(f, dest / f.name)
    copy = corpus.by_name(root)[case.name]
    assert copy.context == case.context and copy.input.read_text() == case.input.read_text()
    assert {v: sorted(copy.expected_for(v)) for v in copy.versions} == \
        {v: sorted(case.expected_for(v)) for v in case.versions}
    return copy


@dataclass
class Tampered:
    kind: str                   # the expected kind changed
    clean: corpus.CorpusCase    # the copy as recorded
    bad: corpus.CorpusCase      # the copy with one wrong expectation


@pytest.fixture(scope="module")
def tampered(tmp_path_factory) -> dict[str, Tampered]:
    clean_root, bad_root = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("tampered")
    out: dict[str, Tampered] = {}
    for tid, op, has, kind in TAMPERS:
        case = _pick(op, has, {t.clean.name for t in out.values()})
        clean, bad = _copy(case, clean_root), _copy(case, bad_root)
        path = bad.expected_path(LIBVIRT, kind)
        before = path.read_text() if path.exists() else None
        path.write_text(_wrong(kind, before))
        bad = corpus.by_name(bad_root)[case.name]  # read back: the tampered file is what it reads
        assert bad.read_expected(LIBVIRT) != clean.read_expected(LIBVIRT)
        out[tid] = Tampered(kind, clean, bad)
    assert len({t.clean.name for t in out.values()}) == len(TAMPERS), "one distinct case per kind"
    return out


def _replay_verdicts(tampered: dict[str, Tampered], target: Target) -> None:
    clean = [t.clean for t in tampered.values()]
    bad = [t.bad for t in tampered.values()]
    report = corpus_replay.replay([*clean, *bad], target)
    verdict = {(o.case.input, o.case.name): (o.status, o.problem) for o in report.outcomes}
    assert len(verdict) == 2 * len(tampered)
    for tid, t in tampered.items():
        status, problem = verdict[(t.clean.input, t.clean.name)]
        assert status == "pass", f"{tid}: the case as recorded ({t.clean.name}) does not pass on {target}: {problem}"
        status, problem = verdict[(t.bad.input, t.bad.name)]
        assert status == "fail", f"{tid}: a wrong expected {t.kind} of {t.bad.name} was not caught on {target}"


@pytest.mark.libvirt
def test_a_wrong_expectation_of_each_op_kind_fails_the_libvirt_replay(tampered):
    """What tests/test_corpus_libvirt.py checks every case with, on the real libvirt 9.0.0."""
    _replay_verdicts(tampered, Target("libvirt", LIBVIRT))


def test_a_wrong_expectation_of_each_op_kind_fails_the_oracle_replay(tampered):
    """The same replay on the oracle's 9.0.0 profile (``virtfuzz corpus replay --backend oracle``)."""
    _replay_verdicts(tampered, Target("oracle", LIBVIRT))


@pytest.mark.parametrize("tid", [t[0] for t in TAMPERS])
def test_a_wrong_expectation_fails_the_oracle_golden_test(tid, tampered, monkeypatch):
    """tests/test_oracle_unit.py's own test function, on the recorded and on the tampered copy."""
    t = tampered[tid]
    monkeypatch.setitem(test_oracle_unit.GOLDEN, t.clean.name, t.clean)
    test_oracle_unit.test_golden(t.clean.name)
    monkeypatch.setitem(test_oracle_unit.GOLDEN, t.clean.name, t.bad)
    with pytest.raises(AssertionError):
        test_oracle_unit.test_golden(t.clean.name)


# --- one more declined case ---------------------------------------------------------------------

def test_an_oracle_that_declines_one_more_case_fails_the_pin(monkeypatch):
    victim = _pick("define", "xml")
    victim_xml = victim.input.read_text()
    real_define = oracle.define

    def declining_define(xml: str, *args, **kwargs):
        if xml == victim_xml:
            raise OracleUnsupported("deliberately declined by tests/test_suite_catches.py")
        return real_define(xml, *args, **kwargs)

    test_oracle_unit.test_declined_golden_cases_are_exactly_the_pinned_ones()  # as pinned: passes
    monkeypatch.setattr(oracle, "define", declining_define)
    with pytest.raises(AssertionError, match=f"1 more than the pinned(.|\n)*{victim.name}: unsupported"):
        test_oracle_unit.test_declined_golden_cases_are_exactly_the_pinned_ones()
    with pytest.raises(OracleUnsupported):  # and the case's own test: declining an unlisted case fails
        test_oracle_unit.test_golden(victim.name)


# --- a removed libvirt build, skips and hypothesis in CI (pytest in a subprocess) -----------------

def _pytest(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("PYTEST_", "VIRTFUZZ_SKIP", "CI")) and k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                           "--basetemp", str(tmp_path / "pytest"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=600, env={**clean_env, **env})


def _other_build() -> str:
    others = [v for v, spec in buildroots.specs().items() if v != LIBVIRT]
    assert others, "builds/*.toml describes no build besides the host's"
    return others[0]


def test_a_removed_build_fails_in_ci_and_skips_only_under_the_local_opt_out(tmp_path):
    version = _other_build()
    empty = tmp_path / "data"  # a data directory without the builds' roots
    empty.mkdir()
    node = f"tests/test_builds.py::test_restart_loader_and_abi_check_run_inside_the_build[{version}]"
    ci = _pytest([node], tmp_path, CI="true", VIRTFUZZ_SKIP_LIBVIRT="1", VIRTFUZZ_DATA_DIR=str(empty))
    assert ci.returncode == 1 and "1 failed" in ci.stdout, ci.stdout[-3000:]
    assert f"libvirt build {version} is not installed" in ci.stdout
    assert "VIRTFUZZ_SKIP_LIBVIRT=1 is ignored because CI is set" in ci.stdout
    local = _pytest([node], tmp_path, VIRTFUZZ_SKIP_LIBVIRT="1", VIRTFUZZ_DATA_DIR=str(empty))
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-3000:]


def test_libvirt_python_missing_fails_the_libvirt_tests_in_ci(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "libvirt.py").write_text("raise ImportError('libvirt removed by tests/test_suite_catches.py')\n")
    node = "tests/test_libvirt_backend.py::test_third_usb_device_on_piix3_has_no_free_port"
    r = _pytest([node], tmp_path, CI="true", PYTHONPATH=str(shadow))
    # the session fixture fails, so pytest counts it as an error of the test: a failed run either way
    assert r.returncode == 1 and ("1 failed" in r.stdout or "1 error" in r.stdout), r.stdout[-3000:]
    assert "Failed: real libvirt unavailable (libvirt-python is not importable: libvirt removed by " \
           "tests/test_suite_catches.py)" in r.stdout


def test_a_skip_outside_the_allow_list_fails_a_ci_run(tmp_path):
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "def test_runs():\n    pass\n\n"
        "def test_skips():\n    pytest.skip('nobody counts me')\n\n"
        "@pytest.mark.parametrize('v', [])\n"
        "def test_has_no_cases(v):\n    pass\n")
    args = ["-p", "tests.conftest", "--rootdir", str(tmp_path), str(tmp_path / "test_skips.py")]
    ci = _pytest(args, tmp_path, CI="true")
    assert ci.returncode == 1, ci.stdout[-3000:]
    assert "2 test(s) skipped outside the allow-list" in ci.stdout
    assert "test_skips.py::test_skips" in ci.stdout and "test_skips.py::test_has_no_cases" in ci.stdout
    local = _pytest(args, tmp_path)
    assert local.returncode == 0 and "1 passed, 2 skipped" in local.stdout, local.stdout[-3000:]


def test_hypothesis_is_derandomised_without_a_database_in_ci():
    code = ("import tests.conftest; from hypothesis import settings; "
            "print(settings.default.derandomize, settings.default.database, settings().derandomize)")
    # not only CI: hypothesis loads a derandomised profile of its own when it sees any CI marker,
    # tox's copy of CI included (__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI, set under `tox` with CI)
    markers = {"CI", "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI", "TF_BUILD", "bamboo.buildKey", "BUILDKITE",
               "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID", "GITHUB_ACTIONS", "GITLAB_CI", "HEROKU_TEST_RUN_ID",
               "TEAMCITY_VERSION"}
    env = {k: v for k, v in os.environ.items() if k not in markers}
    ci = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                        env={**env, "CI": "true"})
    assert ci.stdout.split() == ["True", "None", "True"], ci.stderr
    local = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                           env=env)
    assert local.stdout.split()[0] == "False", local.stderr
