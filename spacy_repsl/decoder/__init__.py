"""The torch-level decoder core: a decoder LM adapted to see right context.

Sequence repetition (`repetition`), causal-mask removal per layer (`unmasking`, applied by
`attention`), early exit (`early_exit`), on a quantized (`quantization`) LoRA (`lora`) base
loaded by `loading`; `encoder.RepSLDecoder` puts them together.

Names are imported lazily: `settings` and the pure modules load without torch, so spaCy's
plugin discovery stays cheap; torch, transformers and peft load when a model is built.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "DecoderNotAvailableError": ".loading",
    "DecoderOutput": ".encoder",
    "DecoderSettings": ".settings",
    "ExitLayerError": ".early_exit",
    "FAMILIES": ".families",
    "LoraSettings": ".lora",
    "RepSLDecoder": ".encoder",
    "RepeatedSequence": ".repetition",
    "SequenceTooLongError": ".encoder",
    "UnmaskSpec": ".unmasking",
    "UnmaskSpecError": ".unmasking",
    "UnsupportedModelError": ".families",
    "build_decoder": ".encoder",
    "check_exit_layer": ".early_exit",
    "middle_band": ".unmasking",
    "parse_unmask": ".unmasking",
    "repeat_sequence": ".repetition",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
