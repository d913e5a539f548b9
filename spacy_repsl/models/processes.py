"""Forked workers (spaCy's `nlp.pipe(n_process=2)` on Linux) and torch's thread pool.

A process that forks after torch has run an operation on several threads leaves the child an
OpenMP thread pool whose threads do not exist there: the child's first parallel operation
waits for them forever. Children therefore start on one torch thread (spaCy's workers each
take one process's share of the machine anyway), which never touches that pool.
"""

from __future__ import annotations

import os

_registered = False


def _one_thread_in_child() -> None:
    import torch

    torch.set_num_threads(1)


def make_forks_safe() -> None:
    """Register, once per process, that forked children use one torch thread."""
    global _registered
    if not _registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_one_thread_in_child)
        _registered = True
