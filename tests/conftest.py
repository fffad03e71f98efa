"""Shared fixtures.

Tests marked ``libvirt`` need the real libvirt 9.0.0 (or one of the builds in ``builds/``, or the
set-up's libvirt source). When it is missing they FAIL (that is what CI must see); a developer
without libvirt may skip them only by setting VIRTFUZZ_SKIP_LIBVIRT=1, and only outside CI: with
``CI`` set (``.ci/run`` sets CI=true) the opt-out is ignored. :func:`libvirt_missing` is the one
place that decides.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from functools import cache
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

from contract.backend import BackendUnavailable
from virtfuzz import datadir

# Hypothesis in CI: the same examples on every run and every machine (derandomize), no example
# database carried between runs (a fresh clone has none, so a local one would make CI and a
# developer disagree), no per-example deadline and no too-slow health check (both measure wall
# clock time on a shared, loaded machine), and the blob to reproduce a failure printed. Locally the
# default profile stays: random exploration with the local database. Tests that pass their own
# ``settings(...)`` keep what they set; what they leave unset comes from the loaded profile (the
# profile is loaded here, before any test module builds its settings objects).
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI"):
    settings.load_profile("ci")


def seed_data_dir(path):
    """A new data directory that reads the set-up's libvirt source package (read-only, by symlink):
    for tests that must not write into the machine's data directory."""
    path.mkdir(parents=True, exist_ok=True)
    src = datadir.libvirt_src()
    if src.exists():
        (path / "libvirt-src").mkdir(exist_ok=True)
        (path / "libvirt-src" / "installed").symlink_to(src.resolve())
    return path


def seed_set_up_caches(path):
    """A new data directory (:func:`seed_data_dir`) that also has the set-up's real libvirt
    builds (their roots, by symlink: only entered, never changed) and a copy of its capability
    caches' entries for the stock QEMU binaries (libvirt keys an entry by the binary's path, which
    is the same here; the fake-QEMU variants' entries name the machine's variant paths and are
    left out: variants are created, and probed, in this directory). Real backends started with it
    probe no stock binary again and save what they probe here, not in the machine's caches."""
    real = datadir.data_dir()
    seed_data_dir(path)
    if (real / "builds").is_dir() and not (path / "builds").exists():
        (path / "builds").symlink_to((real / "builds").resolve())
    for entry in sorted((real / "capscache").glob("*/*.xml")):
        text = entry.read_text(errors="replace")
        emulator = text[text.find("<emulator>") + len("<emulator>"):text.find("</emulator>")]
        if emulator.startswith(str(real)) or emulator.startswith(str(real.resolve())):
            continue  # a variant of the machine's data directory
        dst = path / "capscache" / entry.parent.name / entry.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(entry, dst)
    return path


@contextmanager
def private_data_dir_at(path, caches: bool = False):
    """Use a data directory of one's own, seeded read-only with the set-up's libvirt source: the
    fake-QEMU variants drawn meanwhile are created there, never in the machine's. The campaign's
    per-process cache of capability contexts (which remember their variants' paths) is emptied on
    the way in and out, so no path leaks between this directory and the machine's. With
    ``caches``, also the builds and the stock binaries' capability caches
    (:func:`seed_set_up_caches`): for tests that run real backends there."""
    from virtfuzz.backends import caps_context

    (seed_set_up_caches if caches else seed_data_dir)(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(datadir.ENV, str(path))
        caps_context._rendering_context.cache_clear()
        try:
            yield path
        finally:
            caps_context._rendering_context.cache_clear()


@pytest.fixture
def private_data_dir(tmp_path):
    with private_data_dir_at(tmp_path / "data") as path:
        yield path


@pytest.fixture
def private_data_dir_with_caches(tmp_path_factory):
    """A private data directory with the set-up's builds and stock capability caches (read-only);
    beside the test's ``tmp_path``, not in it (tests use that as a corpus root or an output)."""
    with private_data_dir_at(tmp_path_factory.mktemp("data"), caches=True) as path:
        yield path


def skip_libvirt_opted_out() -> bool:
    """VIRTFUZZ_SKIP_LIBVIRT=1 is honoured only outside CI (``CI`` unset or empty)."""
    return os.environ.get("VIRTFUZZ_SKIP_LIBVIRT") == "1" and not os.environ.get("CI")


def libvirt_missing(reason: str) -> NoReturn:
    """A prerequisite of a libvirt test (libvirt-python, a build's root, the libvirt source and
    test data, the libvirt-qemu user) is missing: FAIL, or skip under the local opt-out."""
    if skip_libvirt_opted_out():
        pytest.skip(f"{reason}; skipped because VIRTFUZZ_SKIP_LIBVIRT=1")
    if os.environ.get("VIRTFUZZ_SKIP_LIBVIRT") == "1":
        pytest.fail(f"{reason} (VIRTFUZZ_SKIP_LIBVIRT=1 is ignored because CI is set)")
    pytest.fail(f"{reason} (run scripts/setup.sh; VIRTFUZZ_SKIP_LIBVIRT=1 skips locally)")


@cache
def _libvirt_python_problem() -> str | None:
    try:
        import libvirt  # noqa: F401
    except ImportError as e:
        return f"libvirt-python is not importable: {e}"
    return None


def pytest_report_header(config) -> str | None:
    if os.environ.get("VIRTFUZZ_SKIP_LIBVIRT") == "1":
        if os.environ.get("CI"):
            return "VIRTFUZZ_SKIP_LIBVIRT=1 IGNORED: CI is set, tests that need libvirt fail when it is missing"
        return "VIRTFUZZ_SKIP_LIBVIRT=1: tests that need libvirt skip when it is missing"
    return None


def pytest_runtest_setup(item) -> None:
    """Under the local opt-out, a ``libvirt`` test skips before it starts when libvirt-python is
    missing (whatever way it reaches libvirt: fixture, CLI, subprocess); otherwise it runs, and
    fails on what is missing."""
    if item.get_closest_marker("libvirt") is not None and skip_libvirt_opted_out():
        problem = _libvirt_python_problem()
        if problem:
            libvirt_missing(f"real libvirt unavailable ({problem})")


# Skips are counted. In CI (``CI`` set) a skipped test fails the run unless its node id starts with
# an entry here, each with the reason it may skip; today none may (the libvirt opt-out is ignored
# in CI, and the oracle's declined golden cases are pinned in oracle_declined.txt instead of
# skipping). This also catches the skips nobody wrote: an empty ``parametrize`` list (no builds
# found, no corpus cases of an op) makes pytest skip the test silently.
SKIP_ALLOWED: dict[str, str] = {}
_skipped: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def disallowed_skips(nodeids: list[str]) -> list[str]:
    return [n for n in nodeids if not any(n.startswith(prefix) for prefix in SKIP_ALLOWED)]


def pytest_sessionfinish(session, exitstatus) -> None:
    """In CI, fail a run that skipped a test outside :data:`SKIP_ALLOWED` (on the controlling
    process only: with xdist it sees every worker's reports)."""
    if not os.environ.get("CI") or hasattr(session.config, "workerinput"):
        return
    bad = disallowed_skips(_skipped)
    if not bad:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_line(f"CI: {len(bad)} test(s) skipped outside the allow-list (tests/conftest.py "
                            f"SKIP_ALLOWED), which fails the run: " + ", ".join(sorted(bad)[:20]), red=True)
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _libvirt_backend_or_fail():
    from virtfuzz.backends.libvirt_backend import LibvirtBackend

    try:
        return LibvirtBackend()
    except BackendUnavailable as e:
        libvirt_missing(f"real libvirt unavailable ({e})")


@pytest.fixture(scope="session")
def libvirt_backend():
    """One real backend (worker process + embedded root) per test process (xdist-safe)."""
    b = _libvirt_backend_or_fail()
    yield b
    b.close()


@pytest.fixture
def fresh_libvirt_backend():
    b = _libvirt_backend_or_fail()
    yield b
    b.close()


def domain(arch: str, machine: str, devices: str = "", name: str = "t",
           uuid: str = "c7a5fdbd-cdaf-9455-926a-d65c16db1809") -> str:
    return (f"<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>65536</memory>"
            f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os><devices>{devices}</devices></domain>")
