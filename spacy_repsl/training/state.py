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
from typing import Any, Dict, Iterator, List, Optional, Tuple, cast

import numpy

STATE_FILE = "state.json"
ARRAYS_FILE = "optimizer.npz"
OPTIMIZER_TABLES = ("mom1", "mom2", "averages")
FORMAT = 2  # 2: `shuffles` (the batches' random states); raise it whenever Progress or the files change


@dataclass
class Progress:
    """Where a run stands: `steps` batches consumed and stepped, `words` seen, `seconds` of
    work kept so far (all its processes, each from its start to its last checkpoint), every
    evaluation so far as `[score, step]` (`results`: the best, and patience, count them all), the
    losses summed since the last evaluation, the steps at which earlier processes resumed, the
    random states the batches were drawn from (`loop.train_batches`: before the corpus was read,
    then at each epoch's shuffle), and the `config` it was trained with (a hash of the
    interpolated config and the training data: a checkpoint only resumes its own run)."""

    steps: int
    words: int
    seconds: float
    results: List[List[float]]
    losses: Dict[str, float]
    config: str
    resumed: List[int] = field(default_factory=list)
    shuffles: List[list] = field(default_factory=list)
    format: int = FORMAT

    @property
    def best_score(self) -> Optional[float]:
        return max((score for score, _ in self.results), default=None)


def parameter_keys(nlp: Any) -> Iterator[Tuple[str, Tuple[int, str], str, Any]]:
    """Every (kind, optimizer key, stable name, owner) of the pipeline's components: thinc nodes
    ("node") by their parameter names, shims ("shim": torch modules) by their parameters' names."""
    for component, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for index, node in enumerate(model.walk()):
            for name in node.param_names:
                yield "node", (node.id, name), f"{component}/{index}/{name}", node
            for number, shim in enumerate(node.shims):
                module = getattr(shim, "_model", None)
                names = []
                if module is not None and hasattr(module, "named_parameters"):
                    names = [n for n, _ in module.named_parameters()]
                for name in names:
                    yield "shim", (shim.id, name), f"{component}/{index}/shim{number}/{name}", shim


class ParameterNames:
    """Optimizer keys <-> stable names for one pipeline, found once. thinc keys a node's parameter
    and a shim's alike, `(id, name)`, from separate id counters: where both share a key, the
    optimizer cannot tell them apart either, so that is refused."""

    def __init__(self, nlp: Any) -> None:
        self.by_key: Dict[Tuple[int, str], Tuple[str, Any]] = {}
        self.by_name: Dict[str, Tuple[Tuple[int, str], Any]] = {}
        for _, key, stable, owner in parameter_keys(nlp):
            if key in self.by_key and self.by_key[key][1] is not owner:
                raise ValueError(
                    f"Two parameters of the pipeline share the optimizer key {key!r}, so their optimizer "
                    "state cannot be told apart: no checkpoint can be written."
                )
            self.by_key[key] = (stable, owner)
            self.by_name[stable] = (key, owner)

    def stable(self, key: Any) -> str:
        if key not in self.by_key:
            raise ValueError(
                f"The optimizer holds state for {key!r}, which is no parameter of the pipeline's "
                "components, so a checkpoint could not give it back."
            )
        return self.by_key[key][0]

    def key(self, name: str, folder: Path) -> Tuple[int, str]:
        if name not in self.by_name:
            raise ValueError(
                f"The checkpoint in {folder} has optimizer state for {name}, which this pipeline does "
                "not have: it was written by another pipeline. Delete the folder to start again."
            )
        return self.by_name[name][0]


def _nodes(nlp: Any) -> Iterator[Tuple[str, Any]]:
    for component, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if model is not None and hasattr(model, "walk"):
            for index, node in enumerate(model.walk()):
                yield f"{component}/{index}", node


def _has_gradient(owner: Any, name: str) -> bool:
    if hasattr(owner, "has_grad"):
        return bool(owner.has_grad(name))
    return dict(owner._model.named_parameters())[name].grad is not None


def _give_zero_gradient(owner: Any, name: str) -> None:
    if hasattr(owner, "has_grad"):
        if not owner.has_grad(name):
            param = owner.get_param(name)
            owner.set_grad(name, owner.ops.alloc(param.shape, dtype=param.dtype))
        return
    param = dict(owner._model.named_parameters())[name]
    if param.grad is None:
        import torch

        param.grad = torch.zeros_like(param)


def set_attributes(nlp: Any) -> Dict[str, Dict[str, list]]:
    """The set-valued attributes of every node (thinc's serialization leaves them out), where
    their members are JSON scalars (spaCy's `unseen_classes` are ints); other sets are not kept."""
    found: Dict[str, Dict[str, list]] = {}
    for name, node in _nodes(nlp):
        for attr, value in node.attrs.items():
            if isinstance(value, (set, frozenset)) and all(isinstance(v, (str, int, float, bool)) for v in value):
                found.setdefault(name, {})[attr] = sorted(value, key=repr)
    return found


def save_state(folder: Path, nlp: Any, optimizer: Any, progress: Progress) -> None:
    """Write the optimizer's state, the random generators and `progress` into `folder`.

    Raises ValueError when the optimizer holds state for a parameter that is not in the
    pipeline (it could not be given back on resume)."""
    import torch

    names = ParameterNames(nlp)
    arrays: Dict[str, numpy.ndarray] = {}
    counts: Dict[str, List[int]] = {}
    for table in OPTIMIZER_TABLES:
        for key, value in (getattr(optimizer, table, None) or {}).items():
            arrays[f"{table}:{names.stable(key)}"] = _to_numpy(value)
    for key, count in optimizer.nr_update.items():
        counts[names.stable(key)] = [int(count), int(optimizer.last_seen.get(key, 0))]
    np_state = cast(Tuple[Any, ...], numpy.random.get_state(legacy=True))  # a tuple when legacy
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
        "with_gradients": [stable for stable, (key, owner) in names.by_name.items() if _has_gradient(owner, key[1])],
        "random": [version, list(internal), gauss],
        "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ARRAYS_FILE, "wb") as file:
        numpy.savez(file, **arrays)  # type: ignore[arg-type]  # numpy's stub takes **arrays for allow_pickle
    (folder / STATE_FILE).write_text(json.dumps(record), encoding="utf8")


def read_progress(folder: Path) -> Optional[Progress]:
    """The progress a checkpoint folder records, or None when there is no complete one
    (`unreadable_reason` says why)."""
    return None if unreadable_reason(folder) else _progress(folder)


def unreadable_reason(folder: Path) -> Optional[str]:
    """Why `folder` holds no checkpoint this version can resume, in words (None: it can): a file
    missing or cut short (damaged), or another checkpoint format (written by another version)."""
    try:
        record = json.loads((folder / STATE_FILE).read_text(encoding="utf8"))
    except OSError as err:
        return f"its {STATE_FILE} cannot be read ({err.strerror or err})"
    except ValueError:
        return f"its {STATE_FILE} is damaged (not complete JSON)"
    saved = record.get("progress", {}).get("format") if isinstance(record, dict) else None
    try:
        progress = _progress(folder, record)
    except (KeyError, TypeError, AttributeError):
        return (
            f"it was written by another version of spacy-repsl (checkpoint format {saved or 'before 2'}, "
            f"this version reads {FORMAT})"
        )
    if progress.format != FORMAT:
        return (
            f"it was written by another version of spacy-repsl (checkpoint format {saved}, this version reads {FORMAT})"
        )
    if not (folder / ARRAYS_FILE).is_file():
        return f"its {ARRAYS_FILE} is missing (damaged)"
    return None


def _progress(folder: Path, record: Optional[Dict[str, Any]] = None) -> Progress:
    if record is None:
        record = json.loads((folder / STATE_FILE).read_text(encoding="utf8"))
    return Progress(**record["progress"])


def restore_state(folder: Path, nlp: Any, optimizer: Any) -> None:
    """Give the optimizer and the random generators the state `save_state` wrote. Call after the
    weights are loaded and the consumed batches replayed (replaying draws from the generators).

    Raises ValueError when the checkpoint names a parameter this pipeline does not have."""
    import torch

    record = json.loads((folder / STATE_FILE).read_text(encoding="utf8"))
    names = ParameterNames(nlp)
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
                target[names.key(name[len(table) + 1 :], folder)] = ops.asarray(value)
    optimizer.nr_update.clear()
    optimizer.last_seen.clear()
    for name, (count, seen) in record["counts"].items():
        optimizer.nr_update[names.key(name, folder)] = count
        if seen:
            optimizer.last_seen[names.key(name, folder)] = seen
    nodes = dict(_nodes(nlp))
    for name, attrs in record.get("set_attributes", {}).items():
        if name not in nodes:
            raise ValueError(
                f"The checkpoint in {folder} has attributes for node {name}, which this pipeline does not "
                "have: it was written by another pipeline. Delete the folder to start again."
            )
        for attr, values in attrs.items():
            nodes[name].attrs[attr] = set(values)
    for name in record.get("with_gradients", []):
        key = names.key(name, folder)
        _give_zero_gradient(names.by_name[name][1], key[1])
    if record.get("last_score") is not None:
        optimizer.last_score = record["last_score"]
    version, internal, gauss = record["random"]
    random.setstate((version, tuple(internal), gauss))
    kind, pos, has_gauss, cached = record["numpy"]
    numpy.random.set_state((kind, loaded["rng:numpy"], pos, has_gauss, cached))
    torch.set_rng_state(torch.from_numpy(loaded["rng:torch"].copy()))
    for name, value in loaded.items():
        if name.startswith("rng:cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state(torch.from_numpy(value.copy()), int(name[len("rng:cuda") :]))


def _to_numpy(value: Any) -> numpy.ndarray:
    return value.get() if hasattr(value, "get") and not isinstance(value, numpy.ndarray) else numpy.asarray(value)


def _ops_for(optimizer: Any) -> Any:
    """The ops whose arrays the optimizer's tables hold (cupy under `--gpu-id`, else numpy)."""
    from thinc.api import get_current_ops

    return get_current_ops()
