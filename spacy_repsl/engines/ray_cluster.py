"""Joining or starting a Ray cluster, and the one place that imports Ray.

Ray is an optional extra (`pip install "spacy-repsl[ray]"`); everything that needs it calls
`require_ray()`, which says how to install it when it is missing.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Iterator, Optional

TESTED = ">=2.60,<2.61"
INSTALL_HINT = f'pip install "spacy-repsl[ray]"  (Ray {TESTED} with Tune and Data)'
# Variables a worker needs to load models the way the driver does (offline mode, caches).
FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")


class RayMissingError(ImportError):
    pass


def require_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise RayMissingError(f"This needs Ray, which is not installed: {INSTALL_HINT}.") from err
    return ray


def worker_env() -> Dict[str, str]:
    return {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}


@contextlib.contextmanager
def connected(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[Any]:
    """Use the Ray instance already initialised in this process, or join `address` ("auto",
    "host:port", "ray://..."), or start a local instance; shut down only what we started."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: Dict[str, Any] = {"runtime_env": {"env_vars": worker_env()}, "log_to_driver": True}
    if address:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as err:
            raise ConnectionError(
                f"Could not join the Ray cluster at {address!r}: start one with `ray start --head` (and "
                "`ray start --address HEAD_IP:6379` on the other nodes), or leave --ray-address empty to start "
                f"a local instance on this machine. ({err})"
            ) from err
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_resources(ray: Any) -> str:
    res = ray.cluster_resources()
    return f"{len(ray.nodes())} node(s), {res.get('CPU', 0):g} CPU(s), {res.get('GPU', 0):g} GPU(s)"
