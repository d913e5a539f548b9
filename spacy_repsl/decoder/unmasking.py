"""Which layers lose their causal mask: one spec, parsed early, resolved per model.

A spec is parsed (syntax only) when settings are read, and resolved to layer indices
once the number of layers that actually run is known. With early exit that number is
the exit layer L, so "full", "middle" and "groups:..." describe the model you run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Iterable, List, Sequence, Union

UNMASK_FORMS = (
    '"none" (causal everywhere), "full" (every layer), "middle" (the SR paper\'s middle band), '
    '"groups:<bits>" (m equal layer groups, bottom group first, e.g. "groups:0110"), '
    '"layers:<i,j,...>" (explicit 0-based layer indices, e.g. "layers:0,5,6")'
)


class UnmaskSpecError(ValueError):
    """An unmasking spec that cannot be parsed or does not fit the model."""


@dataclass(frozen=True)
class UnmaskSpec:
    """A parsed spec: `kind` is none/full/middle/groups/layers, `value` its payload."""

    kind: str
    value: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind

    @property
    def is_none(self) -> bool:
        return self.kind == "none"

    def layers(self, num_layers: int) -> FrozenSet[int]:
        """The 0-based indices of the unmasked layers in a model of `num_layers` layers."""
        if num_layers < 1:
            raise UnmaskSpecError(f"A model needs at least one layer, got {num_layers}.")
        if self.kind == "none":
            return frozenset()
        if self.kind == "full":
            return frozenset(range(num_layers))
        if self.kind == "middle":
            return frozenset(middle_band(num_layers))
        if self.kind == "groups":
            return frozenset(group_layers(self.value, num_layers))
        indices = [int(i) for i in self.value.split(",")]
        out_of_range = [i for i in indices if i >= num_layers]
        if out_of_range:
            raise UnmaskSpecError(
                f"Unmask spec '{self}' names layer(s) {out_of_range}, but the model runs "
                f"{num_layers} layers (0..{num_layers - 1}; with early exit, layers at or "
                "above the exit layer do not exist). Use indices below "
                f"{num_layers}."
            )
        return frozenset(indices)


SpecLike = Union[str, UnmaskSpec, Sequence[int], None]


def parse_unmask(spec: SpecLike) -> UnmaskSpec:
    """Parse a spec string (or a list of layer indices); raise with the valid forms."""
    if spec is None:
        return UnmaskSpec("none")
    if isinstance(spec, UnmaskSpec):
        return spec
    if not isinstance(spec, str):
        try:
            indices = [int(i) for i in spec]
        except (TypeError, ValueError):
            raise UnmaskSpecError(_bad(spec)) from None
        return parse_unmask("layers:" + ",".join(str(i) for i in indices))
    text = spec.strip().lower()
    if text in ("none", "full", "middle"):
        return UnmaskSpec(text)
    kind, sep, value = text.partition(":")
    value = value.replace(" ", "")
    if sep and kind == "groups" and value and set(value) <= {"0", "1"}:
        return UnmaskSpec("groups", value)
    if sep and kind == "layers" and value:
        parts = value.split(",")
        if all(p.isdigit() for p in parts):
            unique = sorted(set(int(p) for p in parts))
            return UnmaskSpec("layers", ",".join(str(i) for i in unique))
    raise UnmaskSpecError(_bad(spec))


def _bad(spec: object) -> str:
    return f"Invalid unmask spec {spec!r}. Valid forms: {UNMASK_FORMS}."


def middle_band(num_layers: int) -> range:
    """The SR paper's middle band: Nu = (N/3)//2*2, layers N/2-1-Nu/2 .. N/2+Nu/2 inclusive.

    Gives 10..21 for N=32, 9..18 for 28, 11..24 for 36, 8..17 for 26, 13..28 for 42. For tiny
    or odd N the integer form is used and the band is clipped to the model.
    """
    n_unmasked = int((num_layers / 3) // 2 * 2)
    lower = num_layers // 2 - 1 - n_unmasked // 2
    upper = num_layers // 2 + n_unmasked // 2
    return range(max(lower, 0), min(upper, num_layers - 1) + 1)


def group_bounds(num_groups: int, num_layers: int) -> List[range]:
    """Split layers into `num_groups` contiguous groups, bottom first.

    Equal when m divides N (the paper's case); otherwise the lower groups get one layer more.
    """
    if num_groups > num_layers:
        raise UnmaskSpecError(
            f"Cannot split {num_layers} layers into {num_groups} groups: use at most "
            f"{num_layers} bits in 'groups:<bits>'."
        )
    size, extra = divmod(num_layers, num_groups)
    bounds, start = [], 0
    for g in range(num_groups):
        end = start + size + (1 if g < extra else 0)
        bounds.append(range(start, end))
        start = end
    return bounds


def group_layers(bits: str, num_layers: int) -> Iterable[int]:
    """Layers of the groups whose bit is 1; bit 0 is the bottom group (layers 0..N/m-1)."""
    for bit, layers in zip(bits, group_bounds(len(bits), num_layers)):
        if bit == "1":
            yield from layers
