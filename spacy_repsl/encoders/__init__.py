"""Encoder bases (BERT, RoBERTa, XLM-RoBERTa, DeBERTa-v2/v3, ELECTRA, MPNet, ModernBERT): the
baseline row both papers compare decoders with, in the same component as the decoders.

An encoder already attends to both sides of every token, so of the decoder methods only early
exit applies; repetition, unmasking and restarted positions are refused with that reason
(`families`). `model.RepSLEncoder` reads one vector per piece exactly where `RepSLDecoder` does,
so the tagger, its windows, pooling, scores, saving and export are shared. `tiny` builds small
random encoders of each family for tests, as `decoder.tiny` does for decoders.

Names are imported lazily: `families` loads without torch.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "ENCODER_FAMILIES": ".families",
    "RepSLEncoder": ".model",
    "build_encoder": ".model",
    "check_encoder_settings": ".families",
    "is_encoder": ".families",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
