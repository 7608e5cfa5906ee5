"""dnahnet.threads: the cores a process may use (affinity, cgroup quota), the load of other processes, and the
thread count it sets."""
from __future__ import annotations

import os

import pytest
import torch

from dnahnet import threads


@pytest.fixture(autouse=True)
def _no_configuration(monkeypatch):
    """Each test starts unconfigured and leaves no configuration behind (the governor reads it)."""
    monkeypatch.setattr(threads, "_CURRENT", None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv(threads.POLICY_ENV, raising=False)


def _affinity(monkeypatch, n):
    monkeypatch.setattr(threads, "_affinity_cpus", lambda: set(range(n)))


def test_cgroup_v2_quota_caps_the_affinity_and_rounds_up(tmp_path, monkeypatch):
    _affinity(monkeypatch, 8)
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 cores
    assert threads.cgroup_cpu_limit(tmp_path) == pytest.approx(1.5)
    assert threads.available_cpus(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")  # no quota: the affinity decides
    assert threads.cgroup_cpu_limit(tmp_path) is None
    assert threads.available_cpus(tmp_path) == 8


def test_cgroup_v1_quota_and_never_below_one(tmp_path, monkeypatch):
    _affinity(monkeypatch, 4)
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    (v1 / "cpu.cfs_quota_us").write_text("300000\n")  # 3 cores
    assert threads.available_cpus(tmp_path) == 3
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")  # none
    assert threads.available_cpus(tmp_path) == 4
    (v1 / "cpu.cfs_quota_us").write_text("20000\n")  # a fifth of a core
    assert threads.available_cpus(tmp_path) == 1


def test_affinity_is_the_limit_without_a_cgroup(tmp_path, monkeypatch):
    _affinity(monkeypatch, 3)
    assert threads.available_cpus(tmp_path) == 3  # an empty directory: no cgroup files at all
    monkeypatch.setattr(threads, "_affinity_cpus", lambda: None)  # no affinity API
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert threads.available_cpus(tmp_path) == 5


def test_threads_left_counts_cores_other_processes_take():
    assert threads.threads_left(2, 2, 0.05) == 2  # quiet
    assert threads.threads_left(2, 2, 0.5) == 1  # a busy process sharing a core with one of ours shows ~half
    assert threads.threads_left(2, 2, 1.0) == 1
    assert threads.threads_left(2, 2, 6.0) == 1  # never below one
    assert threads.threads_left(2, 64, 30.0) == 2  # a quota of 2 on a big host with cores to spare
    assert threads.threads_left(8, 8, 2.7) == 5


def test_load_probe_reads_other_processes_from_proc_stat(tmp_path, monkeypatch):
    """Two CPUs: between the readings one was fully busy and one idle, over 1 s, and this process used no CPU."""
    stat = tmp_path / "stat"
    line = "cpu{} {} 0 0 {} 0 0 0 0 0 0\n"
    stat.write_text("cpu  0 0 0 0 0 0 0 0 0 0\n" + line.format(0, 0, 0) + line.format(1, 0, 0))
    clock = iter([10.0, 11.0])
    monkeypatch.setattr(threads.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(threads.time, "process_time", lambda: 3.0)
    _affinity(monkeypatch, 2)
    probe = threads.LoadProbe(stat)
    stat.write_text("cpu  0 0 0 0 0 0 0 0 0 0\n" + line.format(0, 100, 0) + line.format(1, 0, 100))
    assert probe.others() == pytest.approx(1.0)


def test_configure_threads_sets_torch_threads(monkeypatch):
    n = torch.get_num_threads()
    try:
        choice = threads.configure_threads(3)
        assert (choice.threads, choice.policy) == (3, "fixed") and torch.get_num_threads() == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert threads.configure_threads().threads == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(threads, "available_cpus", lambda: 4)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two torchrun ranks share the 4 cores
        choice = threads.configure_threads(policy="fixed")
        assert (choice.threads, choice.cap) == (2, 2) and torch.get_num_threads() == 2
        assert threads.current_choice() is choice
        assert threads.governed(None) is None  # not adaptive: nothing to re-check
    finally:
        torch.set_num_threads(n)


def test_adaptive_leaves_out_the_cores_others_keep_busy(monkeypatch):
    n = torch.get_num_threads()
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads.LoadProbe, "others", lambda self: 1.0)
    monkeypatch.setattr(threads, "_affinity_cpus", lambda: {0, 1})
    try:
        choice = threads.configure_threads(probe_s=0)
        assert (choice.threads, choice.cap, choice.policy) == (1, 2, "adaptive") and torch.get_num_threads() == 1
        monkeypatch.setattr(threads.LoadProbe, "others", lambda self: 0.0)  # the other process has ended
        tick = threads.ticker(recheck_s=0)
        assert tick() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(n)


def test_unknown_policy_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(threads.POLICY_ENV, "turbo")
    with pytest.raises(ValueError, match="DNAHNET_THREAD_POLICY"):
        threads.thread_policy()
