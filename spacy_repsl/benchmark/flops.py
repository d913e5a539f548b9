"""Counted forward FLOPs of a decoder for actual token counts (2 FLOPs per multiply-add).

The ideal speed-up of a setting is the ratio of these counts; attention is counted over the
full T x T score matrix, as an explicitly masked SDPA/eager kernel computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class Shape:
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int

    @classmethod
    def from_config(cls, config: Any) -> "Shape":
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return cls(
            config.hidden_size,
            config.intermediate_size,
            config.num_attention_heads,
            config.num_key_value_heads,
            head_dim,
        )


def layer_flops(shape: Shape, length: int) -> int:
    """One decoder layer on one sequence of `length` tokens."""
    q_dim, kv_dim = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    projections = 2 * length * shape.hidden * (2 * q_dim + 2 * kv_dim)
    attention = 2 * 2 * length * length * q_dim
    mlp = 3 * 2 * length * shape.hidden * shape.intermediate
    return projections + attention + mlp


def decoder_flops(shape: Shape, lengths: Iterable[int], layers: int) -> int:
    """All sequences (their repeated, unpadded lengths) through `layers` layers."""
    return layers * sum(layer_flops(shape, n) for n in lengths)
