"""libvirt's log in an embed root (on tmpfs, in RAM) is kept bounded between requests."""

from __future__ import annotations

from virtfuzz.backends.libvirt_worker import LOG_LIMIT, _bound_log


def test_log_past_the_limit_is_emptied_and_below_it_kept(tmp_path):
    log = tmp_path / "libvirt.log"
    log.write_bytes(b"x" * LOG_LIMIT)
    _bound_log(log)
    assert log.stat().st_size == LOG_LIMIT  # at the limit: kept (the next request's errors are read from it)
    with log.open("ab") as f:
        f.write(b"y")
    _bound_log(log)
    assert log.stat().st_size == 0
    _bound_log(tmp_path / "missing.log")  # no log yet: nothing to do, no error


def test_limit_keeps_a_root_small():
    # the soak's tmpfs bound is 5 MB over an hour for ~20 worker roots: each log may swing by at
    # most its limit between job replacements
    assert LOG_LIMIT * 20 <= 5 * 10**6
