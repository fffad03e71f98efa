"""The oracle backend counts the CPU spent in its calls (bench/bench_builds.py reports the oracle's
share of campaign CPU from it; the builds issue bounds that share at 35 %)."""

from __future__ import annotations

import time

from virtfuzz.backends.oracle_backend import OracleBackend

XML = """<domain type='qemu'><name>cpu</name><uuid>8279095b-d386-5930-872a-065b726c5bd3</uuid><memory>65536</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>"""


def test_batch_calls_counted_once_and_bounded_by_thread_cpu() -> None:
    b = OracleBackend()
    assert b.cpu_seconds == 0.0
    t = time.thread_time()
    results = b.define_many([XML] * 50)
    spent = time.thread_time() - t
    assert [r.kind for r in results] == ["ok"] * 50
    # define_many calls define 50 times: counting the nested calls too would exceed the thread's CPU
    assert 0.0 < b.cpu_seconds <= spent + 1e-6
    before = b.cpu_seconds
    b.guest_many([XML])
    assert b.cpu_seconds > before


def test_instances_count_separately() -> None:
    a, b = OracleBackend(), OracleBackend("12.9.0")
    a.define(XML)
    assert a.cpu_seconds > 0.0 and b.cpu_seconds == 0.0
