"""What a training checkpoint holds besides the weights, so that a resumed run continues the
killed one exactly: the optimizer's moments and update counts, the random generators, how many
batches were consumed, and the best dev score so far.

thinc's optimizer keys its state by `(node or shim id, parameter name)`, and ids are handed out
by a process-wide counter: a resumed process (or a grid that trains several runs in one process)
numbers the same pipeline differently. So the state is saved under stable names, the
component's name and the node's position in `model.walk()`, and mapped back to the new ids.
Arrays go to one `.npz` (read with `allow_pickle=False`) and the rest to JSON: loading a
checkpoint never runs code from the folder.

Two pieces of model state are not in `nlp.to_disk` and change the next update, so they are saved
here: set-valued attributes, which thinc's serialization drops (among them the classes spaCy's
parser and ner have not yet seen in the gold, `unseen_classes`, masked in training), and which
parameters hold a (zeroed) gradient: the optimizer steps those, momentum and weight decay
included, even in a batch that gives them no gradient, and skips parameters without one.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy

STATE_FILE = "state.json"
ARRAYS_FILE = "optimizer.npz"
OPTIMIZER_TABLES = ("mom1", "mom2", "averages")
FORMAT = 1


@dataclass
class Progress:
    """Where a run stands: `steps` batches consumed and stepped, `words` seen, `seconds` of
    training so far (all its processes), the best evaluation so far (score and step, None before
    the first), the steps at which earlier processes resumed, the random state each epoch's
    shuffle started from (`loop.train_batches`), and the `config` it was trained
    with (the hash of the interpolated config: a checkpoint only resumes its own run)."""

    steps: int
    words: int
    seconds: float
    best_score: Optional[float]
    best_step: Optional[int]
    config: str
    resumed: List[int] = field(default_factory=list)
    shuffles: List[list] = field(default_factory=list)  # the random state each epoch's shuffle began from
    format: int = FORMAT


def parameter_keys(nlp: Any) -> Iterator[Tuple[Tuple[int, str], str]]:
    """Every (optimizer key, stable name) of the pipeline's trainable components: thinc nodes by
    their parameter names, shims (torch modules) by their parameters' names."""
    for component, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if not hasattr(model, "walk"):
            continue
        for index, node in enumerate(model.walk()):
            for name in node.param_names:
                yield (node.id, name), f"{component}/{index}/{name}"
            for number, shim in enumerate(node.shims):
                module = getattr(shim, "_model", None)
                names = [n for n, _ in module.named_parameters()] if hasattr(module, "named_parameters") else []
                for name in names:
                    yield (shim.id, name), f"{component}/{index}/shim{number}/{name}"


def _stable_names(nlp: Any) -> Dict[Tuple[int, str], str]:
    return dict(parameter_keys(nlp))


def _nodes(nlp: Any) -> Iterator[Tuple[str, Any]]:
    for component, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if hasattr(model, "walk"):
            for index, node in enumerate(model.walk()):
                yield f"{component}/{index}", node


def with_gradients(nlp: Any) -> List[str]:
    """The stable names of the parameters that hold a gradient (thinc's or torch's)."""
    names = []
    for (key, stable) in parameter_keys(nlp):
        node_or_shim, name = _owner(nlp, key)
        if _gradient(node_or_shim, name) is not None:
            names.append(stable)
    return names


def _owner(nlp: Any, key: Tuple[int, str]) -> Tuple[Any, str]:
    for _, node in _nodes(nlp):
        if node.id == key[0] and key[1] in node.param_names:
            return node, key[1]
        for shim in node.shims:
            if shim.id == key[0]:
                return shim, key[1]
    raise KeyError(key)


def _gradient(owner: Any, name: str) -> Any:
    if hasattr(owner, "has_grad"):
        return owner.get_grad(name) if owner.has_grad(name) else None
    return dict(owner._model.named_parameters())[name].grad


def _give_zero_gradient(owner: Any, name: str) -> None:
    if hasattr(owner, "has_grad"):
        if not owner.has_grad(name):
            owner.set_grad(name, owner.ops.alloc(owner.get_param(name).shape, dtype=owner.get_param(name).dtype))
        return
    param = dict(owner._model.named_parameters())[name]
    if param.grad is None:
        import torch

        param.grad = torch.zeros_like(param)


def set_attributes(nlp: Any) -> Dict[str, Dict[str, list]]:
    """The set-valued attributes of every node (thinc's serialization leaves them out)."""
    found: Dict[str, Dict[str, list]] = {}
    for name, node in _nodes(nlp):
        for attr, value in node.attrs.items():
            if isinstance(value, (set, frozenset)):
                found.setdefault(name, {})[attr] = sorted(value, key=repr)
    return found


def save_state(folder: Path, nlp: Any, optimizer: Any, progress: Progress) -> None:
    """Write the optimizer's state, the random generators and `progress` into `folder`.

    Raises ValueError when the optimizer holds state for a parameter that is not in the
    pipeline (it could not be given back on resume)."""
    import torch

    names = _stable_names(nlp)
    arrays: Dict[str, numpy.ndarray] = {}
    counts: Dict[str, List[int]] = {}
    for table in OPTIMIZER_TABLES:
        for key, value in (getattr(optimizer, table, None) or {}).items():
            arrays[f"{table}:{_stable(names, key)}"] = _to_numpy(value)
    for key, count in optimizer.nr_update.items():
        counts[_stable(names, key)] = [int(count), int(optimizer.last_seen.get(key, 0))]
    np_state = numpy.random.get_state()
    arrays["rng:numpy"] = numpy.asarray(np_state[1], dtype=numpy.uint32)
    arrays["rng:torch"] = torch.get_rng_state().numpy()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for device, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            arrays[f"rng:cuda{device}"] = cuda_state.numpy()
    version, internal, gauss = random.getstate()
    record = {
        "progress": asdict(progress),
        "counts": counts,
        "last_score": getattr(optimizer, "last_score", None),
        "set_attributes": set_attributes(nlp),
        "with_gradients": with_gradients(nlp),
        "random": [version, list(internal), gauss],
        "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ARRAYS_FILE, "wb") as file:
        numpy.savez(file, **arrays)
    (folder / STATE_FILE).write_text(json.dumps(record), encoding="utf8")


def read_progress(folder: Path) -> Optional[Progress]:
    """The progress a checkpoint folder records, or None when there is no complete one."""
    try:
        record = json.loads((folder / STATE_FILE).read_text(encoding="utf8"))
        progress = Progress(**record["progress"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if progress.format != FORMAT or not (folder / ARRAYS_FILE).is_file():
        return None
    return progress


def restore_state(folder: Path, nlp: Any, optimizer: Any) -> None:
    """Give the optimizer and the random generators the state `save_state` wrote. Call after the
    weights are loaded and the consumed batches replayed (replaying draws from the generators).

    Raises ValueError when the checkpoint names a parameter this pipeline does not have."""
    import torch

    record = json.loads((folder / STATE_FILE).read_text(encoding="utf8"))
    keys = {name: key for key, name in _stable_names(nlp).items()}

    def key_of(name: str) -> Tuple[int, str]:
        if name not in keys:
            raise ValueError(f"The checkpoint in {folder} has optimizer state for {name}, which this pipeline does "
                             "not have: it was written by another pipeline. Delete the folder to start again.")
        return keys[name]

    with numpy.load(folder / ARRAYS_FILE, allow_pickle=False) as arrays:
        loaded = {name: arrays[name] for name in arrays.files}
    ops = _ops_for(optimizer)
    for table in OPTIMIZER_TABLES:
        target = getattr(optimizer, table, None)
        if target is None:
            continue
        target.clear()
        for name, value in loaded.items():
            if name.startswith(table + ":"):
                target[key_of(name[len(table) + 1:])] = ops.asarray(value)
    optimizer.nr_update.clear()
    optimizer.last_seen.clear()
    for name, (count, seen) in record["counts"].items():
        optimizer.nr_update[key_of(name)] = count
        if seen:
            optimizer.last_seen[key_of(name)] = seen
    nodes = dict(_nodes(nlp))
    for name, attrs in record.get("set_attributes", {}).items():
        if name not in nodes:
            raise ValueError(f"The checkpoint in {folder} has attributes for node {name}, which this pipeline does not "
                             "have: it was written by another pipeline. Delete the folder to start again.")
        for attr, values in attrs.items():
            nodes[name].attrs[attr] = set(values)
    for name in record.get("with_gradients", []):
        _give_zero_gradient(*_owner(nlp, key_of(name)))
    if record.get("last_score") is not None:
        optimizer.last_score = record["last_score"]
    version, internal, gauss = record["random"]
    random.setstate((version, tuple(internal), gauss))
    kind, pos, has_gauss, cached = record["numpy"]
    numpy.random.set_state((kind, loaded["rng:numpy"], pos, has_gauss, cached))
    torch.set_rng_state(torch.from_numpy(loaded["rng:torch"].copy()))
    for name, value in loaded.items():
        if name.startswith("rng:cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state(torch.from_numpy(value.copy()), int(name[len("rng:cuda"):]))


def _stable(names: Dict[Tuple[int, str], str], key: Any) -> str:
    if key not in names:
        raise ValueError(f"The optimizer holds state for {key!r}, which is no parameter of the pipeline's "
                         "components, so a checkpoint could not give it back.")
    return names[key]


def _to_numpy(value: Any) -> numpy.ndarray:
    from thinc.api import get_array_module

    xp = get_array_module(value)
    return value.get() if xp is not numpy and hasattr(value, "get") else numpy.asarray(value)


def _ops_for(optimizer: Any) -> Any:
    """The ops whose arrays the optimizer's tables hold (cupy under `--gpu-id`, else numpy)."""
    from thinc.api import get_current_ops

    return get_current_ops()
