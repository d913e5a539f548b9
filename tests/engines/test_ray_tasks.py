"""The Ray engine's checks that need no cluster (the cluster tests are in
tests/experiments/test_scale_out.py)."""
import pytest

from spacy_repsl.engines.ray_cluster import INSTALL_HINT, worker_env
from spacy_repsl.engines.ray_tasks import check_feasible


class FakeRay:
    def __init__(self, *nodes):
        self._nodes = [{"Alive": True, "Resources": n} for n in nodes] + [{"Alive": False, "Resources": {"GPU": 8, "CPU": 64}}]

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
