"""Batch inference on Ray Data: read parts of the input in read tasks, map the records with a
pool of actors (each constructs its worker once: loads a model), stream the results back to
the driver in input order.

Records travel as opaque bytes (the caller pickles them), so Arrow never has to agree on a
schema across heterogeneous records, and the caller keeps full control of what a record is.
The caller supplies a picklable `read(part) -> Iterator[bytes]` and a worker class whose
instances map a list of payloads to a list of results of the same length.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from .ray_cluster import connected, require_ray

ROWS_PER_BLOCK = 1000


def payload_table(payloads: Sequence[bytes]) -> Any:
    import pyarrow as pa

    return pa.table({"payload": pa.array(list(payloads), type=pa.large_binary())})


def _blocks(read: Callable[[Any], Iterable[bytes]], part: Any, rows: int) -> Iterator[Any]:
    block: List[bytes] = []
    for payload in read(part):
        block.append(payload)
        if len(block) >= rows:
            yield payload_table(block)
            block = []
    if block:
        yield payload_table(block)


def parts_datasource(parts: Sequence[Any], read: Callable[[Any], Iterable[bytes]], rows: int = ROWS_PER_BLOCK) -> Any:
    """A Ray Data source with one read task per part (an input file), streamed in blocks."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class PartsDatasource(Datasource):
        def get_name(self) -> str:
            return "LabelInput"

        def estimate_inmemory_data_size(self) -> Optional[int]:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: Optional[int] = None, data_context: Any = None
        ) -> List[Any]:
            return [
                ReadTask(
                    lambda part=part: _blocks(read, part, rows),
                    BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None),
                )
                for part in parts
            ]

    return PartsDatasource()


class PayloadActor:
    """The actor Ray Data runs: builds `worker_cls(**worker_kwargs)` once, maps payload batches."""

    def __init__(self, worker_cls: type, worker_kwargs: Dict[str, Any]):
        self.worker = worker_cls(**worker_kwargs)

    def __call__(self, batch: Any) -> Any:
        results = self.worker(batch.column("payload").to_pylist())
        return payload_table(results)


def map_in_order(
    parts: Sequence[Any],
    read: Callable[[Any], Iterable[bytes]],
    worker_cls: type,
    worker_kwargs: Dict[str, Any],
    *,
    address: Optional[str] = None,
    num_workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    batch_size: int = 256,
) -> Iterator[bytes]:
    """Each result payload, in the order of the parts and of the payloads within them."""
    require_ray()
    with connected(address) as ray:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # results come back in input order
        context.enable_progress_bars = False  # the caller reports progress in documents
        # Reading is light I/O: it takes no CPU slot, or the actors holding every CPU would starve it.
        dataset = ray.data.read_datasource(parts_datasource(parts, read), num_cpus=0)
        mapped = dataset.map_batches(
            PayloadActor,
            fn_constructor_kwargs={"worker_cls": worker_cls, "worker_kwargs": worker_kwargs},
            batch_format="pyarrow",
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
        )
        for batch in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield from batch.column("payload").to_pylist()
