"""The regression corpus replayed on the real libvirt 9.0.0: every recorded expectation still holds,
one test id per case.

Each case (virtfuzz.corpus: ``NAME.json`` context, ``NAME.xml`` input, ``NAME.dst.xml`` /
``NAME.dev.xml`` second input, ``NAME.<arch>-9.0.0.expected.*`` what libvirt 9.0.0 answered when
the case was recorded, by libvirt-python alone: scripts/recorder.py, nothing of virtfuzz) is
replayed through virtfuzz's real backend, so a backend that stops doing what libvirt does fails.
The whole corpus goes through the backend's batch calls once per test session
(virtfuzz.corpus_replay, the engine of ``virtfuzz corpus replay``; under xdist the first worker
replays and the others read its results), then each case's test checks its own outcome. A case
with deleted capability flags names the stock ``/usr/bin/qemu-system-ARCH``; its ``qemu``/
``caps_del`` context selects the fake-QEMU variant, created when the case is replayed.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from dataclasses import replace

import pytest

from contract.results import AbiResult, DefineResult, XmlResult
from tests.conftest import private_data_dir_at
from virtfuzz import corpus, corpus_replay
from virtfuzz.targets import Target

pytestmark = pytest.mark.libvirt
LIBVIRT = "9.0.0"
CASES = {c.name: c for c in corpus.cases() if c.has(LIBVIRT)}

# how many cases of each op hold 9.0.0's answer: a case that silently disappears fails too
COUNTS = {"define": 3717, "load": 460, "abi": 1054, "attach": 610, "detach": 255}


@pytest.fixture(scope="session")
def replayed(tmp_path_factory) -> dict[str, list]:
    """case name -> [status, problem] of the whole corpus replayed on libvirt 9.0.0, computed once
    for all xdist workers (the first one to get here replays, under a lock; the others read)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: no one to share with
        return _replay(tmp_path_factory)
    shared = tmp_path_factory.getbasetemp().parent  # this session's, common to its workers
    result = shared / "corpus-replay-9.0.0.json"
    with open(shared / "corpus-replay-9.0.0.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            result.write_text(json.dumps(_replay(tmp_path_factory)))
    return json.loads(result.read_text())


def _replay(tmp_path_factory) -> dict[str, list]:
    # the variants of the capsdel cases are created, and probed, in a private data directory
    with private_data_dir_at(tmp_path_factory.mktemp("data"), caches=True):
        report = corpus_replay.replay(CASES.values(), Target("libvirt", LIBVIRT))
    print(report.summary())
    return {o.case.name: [o.status, o.problem] for o in report.outcomes}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_reproduces(name, replayed):
    status, problem = replayed.get(name, ["missing", "not replayed"])
    assert status == "pass", f"{CASES[name].topic}/{name}: {problem}"


def test_counts():
    assert Counter(c.op for c in CASES.values()) == COUNTS


def test_every_case_is_recorded_independently():
    """Every expectation came from libvirt-python alone (scripts/recorder.py), or, for the define
    cases recorded before it existed, from scripts/record-golden.py's own in-process libvirt calls;
    none from virtfuzz's backend or CLI."""
    by: Counter = Counter()
    for c in corpus.cases():
        for v in c.versions:
            src = c.recorded_with(v)
            ok = "scripts/recorder.py" in src or (c.op == "define" and src == "libvirt 9.0.0 / QEMU 7.2")
            by[f"{c.op}: {src}" if not ok else "ok"] += 1
    assert set(by) == {"ok"}, dict(by)


def _as_recorded(case: corpus.CorpusCase):
    """The result a backend gives when it does exactly what the recording says."""
    exp = case.read_expected(LIBVIRT)
    op = case.op
    if "err" in exp:
        cls = AbiResult if op == "abi" else DefineResult if op == "define" else XmlResult
        return cls(kind="error", error=exp["err"].strip())
    if op == "abi":
        return AbiResult(kind="ok")
    if op == "define":
        mig_err = exp.get("mig.err")
        return DefineResult(kind="ok", xml=exp["xml"], migratable=exp.get("mig.xml"),
                            migratable_error=mig_err.strip() if mig_err else None)
    return XmlResult(kind="ok", xml=exp["xml"])


@pytest.mark.parametrize(("op", "name"), [
    ("define", "rand-0124"), ("define", "capsdel-00-x86_64-qemu-xhci"), ("load", "holdload-0004"),
    ("load", "load-x86_64-pc-tablet"), ("abi", "abi-x86_64-pc-usb-model"), ("abi", "abi-x86_64-pc-same"),
    ("attach", "attach-x86_64-pc-tablet"), ("detach", "detach-x86_64-pc-tablet-missing")])
def test_a_wrong_expectation_is_caught(op, name):
    """The comparison fails on any changed expectation: the recorded answer passes, and a result
    that differs in its kind, XML, migratable XML/error or message does not."""
    case = CASES[name]
    assert case.op == op
    right = _as_recorded(case)
    assert corpus_replay.mismatch(case, LIBVIRT, right) is None
    wrong = []
    if right.kind == "error":
        wrong += [replace(right, error=right.error + "!"), replace(right, kind="ok", error=None)]
    elif op == "abi":
        wrong.append(replace(right, kind="error", error="unsupported configuration: x"))
    else:
        wrong += [replace(right, xml=right.xml.replace("</devices>", "<hub type='usb'/></devices>")),
                  replace(right, kind="error", xml=None, error="x")]
        if op == "define":
            wrong.append(replace(right, migratable=None, migratable_error="y") if right.migratable_error is None
                         else replace(right, migratable="<domain/>", migratable_error=None))
    for w in wrong:
        assert corpus_replay.mismatch(case, LIBVIRT, w) is not None, w


@pytest.mark.parametrize("version", ["7.0.0", "11.3.0", "12.9.0"])
def test_other_builds_answers_reproduce(version, private_data_dir_with_caches):
    """The answers of the other real builds the corpus carries (the builds topic, the operation
    cases answered by every build) still come back from those builds, run inside their roots."""
    mine = [c for c in corpus.cases() if c.has(version)]
    assert len(mine) >= 700, f"{len(mine)} cases record libvirt {version}'s answers"
    report = corpus_replay.replay(mine, Target("libvirt", version))
    bad = [f"{o.case.topic}/{o.case.name}: {o.problem}" for o in report.outcomes if o.status != "pass"]
    assert not bad, f"{len(bad)} of {len(mine)} cases differ on libvirt {version}:\n" + "\n".join(bad[:30])
