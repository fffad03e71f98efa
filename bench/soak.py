"""Soak: does a long campaign stay bounded (memory, tmpfs, output, descriptors, rate)?

Runs ``virtfuzz fuzz`` for ``--minutes`` and samples, every ``--interval`` seconds, over the whole
campaign tree (the parent, its jobs, their libvirt workers and loaders, fake QEMUs, guests):

- rss_mb: total proportional set size (PSS, /proc/PID/smaps_rollup: shared pages counted once);
- tmpfs_mb: size of the campaign's embed roots under /dev/shm/virtfuzz-roots (named by owner pid);
- out_mb: size of the output directory;
- fds: open file descriptors (and, at the end, their change per kind of process, so a rise can be
  told apart: a leak in one process, or one more process of a kind started late);
- rate: cases/s over the last interval (from summary.json, which the campaign rewrites per batch);
- cpu ms/case: CPU time the whole tree spent per case over the last interval (utime + stime of the
  live processes plus what their reaped children used). The machine is shared: when other work
  takes a core the rate drops but the CPU per case does not, so both are reported.

The rate and the CPU per case are compared as the means of the first and the last five steady
samples (one minute's rate on a shared 2-core machine swings by a quarter on its own).

It prints the table, then each quantity's growth per hour between the first sample at or after
``--from-minute`` (default 5: start-up and the first probes are over) and the last, with the
issue's bounds, and finally whether any process, root or guest of the campaign is left.

    python bench/soak.py --minutes 60            # the long-campaign acceptance run
    python bench/soak.py --minutes 3 --interval 15 --from-minute 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from virtfuzz.lifeline import cpu_seconds, descendants  # noqa: E402

ROOTS = Path("/dev/shm/virtfuzz-roots")


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _kind(pid: int) -> str:
    """What a process is, for the descriptor breakdown: program and module or first argument, with
    nothing that differs between two processes of one kind (paths, root names)."""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    prog = os.path.basename(argv[0])
    if len(argv) > 2 and argv[1] == "-m":
        return f"{prog} -m {argv[2]}"
    if "-c" in argv[1:3]:
        return f"{prog} -c"
    rest = [a for a in argv[1:] if not a.startswith("-")]
    if rest and not any(ch.isdigit() for ch in os.path.basename(rest[0])):
        return f"{prog} {os.path.basename(rest[0])}"
    return prog


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _roots(pids: set[int]) -> list[Path]:
    if not ROOTS.is_dir():
        return []
    return [e for e in ROOTS.iterdir() if e.name.split("-", 1)[0].isdigit() and int(e.name.split("-", 1)[0]) in pids]


def _cases(out: Path) -> int:
    try:
        return int(json.loads((out / "summary.json").read_text())["cases"])
    except (OSError, ValueError, KeyError):
        return 0


def sample(parent: int, out: Path, started: float, last: dict | None) -> dict:
    tree = {parent, *descendants(parent)}
    cases = _cases(out)
    now = time.monotonic()
    cpu = sum(cpu_seconds(p) or 0.0 for p in tree)
    rate = cpu_ms = 0.0
    if last is not None and now > last["t"]:
        rate = (cases - last["cases"]) / (now - last["t"])
        if cases > last["cases"] and cpu >= last["cpu"]:
            cpu_ms = 1000 * (cpu - last["cpu"]) / (cases - last["cases"])
        else:  # a process died without its CPU reaching a live ancestor's (a job replaced): no figure
            cpu_ms = float("nan")
    fds_by_kind: dict[str, int] = {}
    procs_by_kind: dict[str, int] = {}
    for p in tree:
        k = _kind(p)
        fds_by_kind[k] = fds_by_kind.get(k, 0) + _fds(p)
        procs_by_kind[k] = procs_by_kind.get(k, 0) + 1
    return {"t": now, "minute": (now - started) / 60, "cases": cases, "rate": rate, "cpu": cpu,
            "cpu_ms": cpu_ms, "rss_mb": sum(_pss_kb(p) for p in tree) / 1024, "procs": len(tree),
            "tmpfs_mb": sum(_du(r) for r in _roots(tree)) / 2**20,
            "out_mb": _du(out) / 2**20, "fds": sum(fds_by_kind.values()),
            "fds_by_kind": fds_by_kind, "procs_by_kind": procs_by_kind,
            "roots": [str(r) for r in _roots(tree)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=60.0, metavar="SECONDS")
    ap.add_argument("--from-minute", type=float, default=5.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="virtfuzz-soak-"))
    cmd = [str(REPO / ".venv" / "bin" / "virtfuzz") if (REPO / ".venv" / "bin" / "virtfuzz").exists() else "virtfuzz",
           "fuzz", "--budget", str(args.minutes * 60), "--jobs", str(args.jobs), "--seed", str(args.seed),
           "--out", str(out / "fuzz")]
    print(f"# soak: {' '.join(cmd[1:])}\n# machine: {platform.node()}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # SIGINT/SIGTERM to the soak stop the campaign as the campaign stops on them (a soak started
    # in the background has SIGINT ignored; without this it would ignore it, or die and orphan it)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: proc.send_signal(signal.SIGINT))
    started = time.monotonic()
    rows: list[dict] = []
    seen_pids: set[int] = set()
    seen_roots: set[str] = set()
    header = (f"{'min':>6} {'cases':>9} {'cases/s':>8} {'PSS MB':>8} {'procs':>5} "
              f"{'tmpfs MB':>9} {'out MB':>7} {'fds':>5} {'cpu ms/case':>11}")
    print(header, flush=True)
    try:
        while proc.poll() is None:
            time.sleep(args.interval)
            if proc.poll() is not None:
                break
            row = sample(proc.pid, out / "fuzz", started, rows[-1] if rows else None)
            seen_pids |= {proc.pid, *descendants(proc.pid)}
            seen_roots |= set(row["roots"])
            rows.append(row)
            print(f"{row['minute']:6.1f} {row['cases']:9d} {row['rate']:8.0f} {row['rss_mb']:8.1f} {row['procs']:5d} "
                  f"{row['tmpfs_mb']:9.1f} {row['out_mb']:7.2f} {row['fds']:5d} {row['cpu_ms']:11.2f}", flush=True)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
    proc.wait()
    time.sleep(2)
    left = [p for p in seen_pids if Path(f"/proc/{p}").exists()]
    left_roots = [r for r in seen_roots if Path(r).exists()]
    # samples of the steady state: after start-up, before the budget ends and the jobs shut down
    steady = [r for r in rows if args.from_minute <= r["minute"] < args.minutes - 0.05]
    status = 0
    if len(steady) >= 2:
        a, b = steady[0], steady[-1]
        w = max(1, min(5, len(steady) // 2))
        rate_a, rate_b = (sum(r["rate"] for r in rs) / len(rs) for rs in (steady[:w], steady[-w:]))
        measured = [r for r in steady if r["cpu_ms"] == r["cpu_ms"]]  # not NaN
        cpu_a, cpu_b = (sum(r["cpu_ms"] for r in rs) / max(len(rs), 1) for rs in (measured[:w], measured[-w:]))
        hours = (b["minute"] - a["minute"]) / 60
        print(f"\n# growth between minute {a['minute']:.1f} and {b['minute']:.1f} "
              f"(per hour, extrapolated from {hours * 60:.0f} min):")
        checks = [
            ("tmpfs", b["tmpfs_mb"] - a["tmpfs_mb"], "MB", "<= 5 MB over the run", b["tmpfs_mb"] - a["tmpfs_mb"] <= 5),
            ("PSS", 100 * (b["rss_mb"] - a["rss_mb"]) / max(a["rss_mb"], 1e-9), "%", "<= 10 % over the run",
             b["rss_mb"] <= 1.10 * a["rss_mb"]),
            ("fds", b["fds"] - a["fds"], "", "flat", b["fds"] <= a["fds"] + 2),
            ("out", b["out_mb"] - a["out_mb"], "MB", "grows with distinct findings only", True),
            (f"cases/s ({rate_a:.0f} -> {rate_b:.0f}, means of {w})", 100 * (rate_b - rate_a) / max(rate_a, 1e-9),
             "%", "within ±15 % of the first", abs(rate_b - rate_a) <= 0.15 * rate_a),
            (f"cpu ms/case ({cpu_a:.2f} -> {cpu_b:.2f}, means of {w})", 100 * (cpu_b - cpu_a) / max(cpu_a, 1e-9),
             "%", "within ±15 % of the first", abs(cpu_b - cpu_a) <= 0.15 * cpu_a),
        ]
        for name, delta, unit, bound, ok in checks:
            per_hour = delta / hours if hours > 0 and unit != "%" else delta
            print(f"  {name:8s} {delta:+8.2f} {unit:2s} over the run ({per_hour:+.2f}{unit}/h)  bound: {bound}  "
                  f"{'ok' if ok else 'EXCEEDED'}")
            status |= 0 if ok else 1
        kinds = sorted(set(a["fds_by_kind"]) | set(b["fds_by_kind"]))
        print(f"# descriptors per kind of process, minute {a['minute']:.1f} -> {b['minute']:.1f} "
              "(fds in processes; changed kinds only):")
        for k in kinds:
            fa, fb = a["fds_by_kind"].get(k, 0), b["fds_by_kind"].get(k, 0)
            pa, pb = a["procs_by_kind"].get(k, 0), b["procs_by_kind"].get(k, 0)
            if (fa, pa) != (fb, pb):
                print(f"  {k:40s} {fa:4d} in {pa:2d} -> {fb:4d} in {pb:2d}")
    else:
        print(f"\n# fewer than 2 samples after minute {args.from_minute}: no growth figures")
    print(f"# after the campaign: {len(left)} processes left, {len(left_roots)} roots left "
          f"(campaign exit {proc.returncode})")
    if left or left_roots:
        status = 1
    shutil.rmtree(out, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
