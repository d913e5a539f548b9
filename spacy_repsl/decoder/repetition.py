"""Sequence repetition: k = r + 1 copies of one example, built before any padding.

Repeating each example on its own (never a padded batch) keeps pads out from between the
copies, so a sequence's positions and outputs do not depend on its batch.

Choices, both documented in the README:
- `bos`: "once" puts the model's BOS token (if its tokenizer adds one) only in front of the
  first copy; "every" starts each copy with BOS, as the reference code does for Gemma and
  Mistral (it concatenates tokenized copies). Models without a BOS (Qwen3) are unaffected.
- `positions`: "continuous" numbers the repeated sequence 0..len-1, as the papers do;
  "restart" gives each copy the positions it would have alone (copies after the first
  continue after the BOS slot when `bos="once"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

BOS_MODES = ("once", "every")
POSITION_MODES = ("continuous", "restart")


@dataclass(frozen=True)
class RepeatedSequence:
    """Token ids and position ids of the repeated example, and where its last copy starts."""

    input_ids: List[int]
    position_ids: List[int]
    last_copy_start: int
    length: int

    def __len__(self) -> int:
        return len(self.input_ids)


def check_modes(copies: int, bos: str, positions: str) -> None:
    """Validate repetition settings, with the fix in the message."""
    if not isinstance(copies, int) or copies < 1:
        raise ValueError(f"Number of copies must be an integer >= 1 (repetitions r >= 0), got {copies!r}.")
    if bos not in BOS_MODES:
        raise ValueError(f"Invalid bos mode {bos!r}: use one of {BOS_MODES}.")
    if positions not in POSITION_MODES:
        raise ValueError(f"Invalid positions mode {positions!r}: use one of {POSITION_MODES}.")


def repeat_sequence(
    ids: Sequence[int],
    copies: int,
    *,
    bos_token_id: Optional[int] = None,
    bos: str = "once",
    positions: str = "continuous",
) -> RepeatedSequence:
    """Repeat `ids` (without special tokens) `copies` times, adding BOS as `bos` says."""
    check_modes(copies, bos, positions)
    n = len(ids)
    if n == 0:
        raise ValueError(
            "Cannot encode an empty sequence: it has no positions to label. Skip empty "
            "inputs before calling the decoder."
        )
    ids = list(ids)
    prefix = [bos_token_id] if bos_token_id is not None else []
    if bos == "every":
        input_ids = (prefix + ids) * copies
    else:
        input_ids = prefix + ids * copies
    if positions == "continuous":
        position_ids = list(range(len(input_ids)))
    else:  # each copy numbered as if alone; a copy without its own BOS continues after the BOS slot
        alone = list(range(len(prefix) + n))
        later = alone if bos == "every" else alone[len(prefix) :]
        position_ids = alone + later * (copies - 1)
    return RepeatedSequence(
        input_ids=input_ids,
        position_ids=position_ids,
        last_copy_start=len(input_ids) - n,
        length=n,
    )
