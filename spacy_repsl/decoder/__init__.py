"""The torch-level decoder core: a decoder LM adapted to see right context.

Sequence repetition (`repetition`), causal-mask removal per layer (`unmasking`, applied by
`attention`), early exit (`early_exit`), on a quantized (`quantization`) LoRA (`lora`) base
loaded by `loading`; `encoder.RepSLDecoder` puts them together. torch is imported here (thinc
imports it anyway); transformers, peft and bitsandbytes only when a model is built.
"""
from .early_exit import ExitLayerError, check_exit_layer
from .encoder import DecoderOutput, RepSLDecoder, SequenceTooLongError, build_decoder
from .families import FAMILIES, UnsupportedModelError
from .loading import DecoderNotAvailableError
from .lora import LoraSettings
from .repetition import RepeatedSequence, repeat_sequence
from .settings import DecoderSettings
from .unmasking import UnmaskSpec, UnmaskSpecError, middle_band, parse_unmask

__all__ = [
    "DecoderNotAvailableError",
    "DecoderOutput",
    "DecoderSettings",
    "ExitLayerError",
    "FAMILIES",
    "LoraSettings",
    "RepSLDecoder",
    "RepeatedSequence",
    "SequenceTooLongError",
    "UnmaskSpec",
    "UnmaskSpecError",
    "UnsupportedModelError",
    "build_decoder",
    "check_exit_layer",
    "middle_band",
    "parse_unmask",
    "repeat_sequence",
]
