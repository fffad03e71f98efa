"""``virtfuzz fuzz --shard K/N`` + ``virtfuzz merge``: two shards merged are the campaign of both
shards' jobs on the same seeds (same cases, same findings)."""

from __future__ import annotations

import argparse
import json

import pytest

from fuzz.campaign import CampaignConfig, run_campaign
from virtfuzz.commands.fuzz import _shard
from virtfuzz.commands.merge import merge

pytestmark = pytest.mark.libvirt


def _campaign(out, jobs, shard=(0, 1)):
    # a budget shorter than a job's start-up: every job runs exactly one batch, its seeds fixed
    cfg = CampaignConfig(budget=0.01, seed=7, jobs=jobs, out=out, batch=40, variant_rate=0.0, builds=(),
                         sequence_share=0.0, live_share=0.0, shard=shard)
    summary, status = run_campaign(cfg)
    assert status in (0, 1), summary.get("batch_errors")
    return summary


def test_two_shards_merged_equal_one_campaign(tmp_path):
    whole = _campaign(tmp_path / "whole", jobs=2)
    _campaign(tmp_path / "s1", jobs=1, shard=(0, 2))
    _campaign(tmp_path / "s2", jobs=1, shard=(1, 2))
    merged = merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "merged")

    assert merged["cases"] == whole["cases"] > 0 and merged["domains"] == whole["domains"]
    assert merged["cases_by_target"] == whole["cases_by_target"]
    assert {f["signature"]: f["count"] for f in merged["findings"]} == \
        {f["signature"]: f["count"] for f in whole["findings"]}
    assert merged["new_findings"] == whole["new_findings"]
    on_disk = sorted(p.name for p in (tmp_path / "merged" / "findings").iterdir()) \
        if (tmp_path / "merged" / "findings").exists() else []
    assert on_disk == sorted(f["signature"] for f in whole["findings"])
    assert json.loads((tmp_path / "merged" / "summary.json").read_text())["cases"] == whole["cases"]


def test_shard_option():
    assert _shard("2/4") == (1, 4)
    for bad in ("0/2", "3/2", "x", "1/2/3"):
        with pytest.raises(argparse.ArgumentTypeError):
            _shard(bad)
