"""The Ray engine's checks that need no cluster (the cluster tests are in
tests/experiments/test_scale_out.py)."""

import os
import signal
import threading
import time

import pytest

from spacy_repsl.engines.ray_cluster import INSTALL_HINT, worker_env
from spacy_repsl.engines.ray_tasks import check_feasible, ctrl_c_flag


class FakeRay:
    def __init__(self, *nodes):
        self._nodes = [{"Alive": True, "Resources": n} for n in nodes] + [
            {"Alive": False, "Resources": {"GPU": 8, "CPU": 64}}
        ]

    def nodes(self):
        return self._nodes


def test_a_request_no_node_can_hold_is_refused_instead_of_waiting_forever():
    ray = FakeRay({"CPU": 2.0}, {"CPU": 16.0, "GPU": 1.0})
    check_feasible(ray, cpus=1, gpus=1)
    check_feasible(ray, cpus=2, gpus=0)
    with pytest.raises(ValueError, match=r"No node .* 2 GPU\(s\).*--gpus-per-run 0"):
        check_feasible(ray, cpus=1, gpus=2)
    with pytest.raises(ValueError, match="2 CPU/0 GPU, 16 CPU/1 GPU"):
        check_feasible(ray, cpus=32, gpus=0)


def test_workers_get_the_hub_settings_of_the_driver(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/data/hf")
    monkeypatch.setenv("UNRELATED", "x")
    env = worker_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HOME"] == "/data/hf" and "UNRELATED" not in env
    assert 'pip install "spacy-repsl[ray]"' in INSTALL_HINT


def test_ctrl_c_while_waiting_sets_the_flag_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_flag() as interrupted:
        os.kill(os.getpid(), signal.SIGINT)  # raised inside a C call, this could be lost; here it is only noted
        deadline = time.time() + 5
        while not interrupted.is_set() and time.time() < deadline:
            time.sleep(0.01)
        assert interrupted.is_set()
    assert signal.getsignal(signal.SIGINT) is before


def test_outside_the_main_thread_signals_are_left_alone():
    seen = []

    def worker():
        with ctrl_c_flag() as interrupted:
            seen.append((interrupted.is_set(), signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(False, signal.getsignal(signal.SIGINT))]
