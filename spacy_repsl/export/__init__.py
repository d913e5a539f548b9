"""`python -m spacy_repsl.export PIPELINE OUT_DIR`: a trained repsl_tagger as an ordinary transformers
`*ForTokenClassification` checkpoint (`token_classification`), and `predict_exported`, the recipe
that gives the pipeline's probabilities from it."""

from ..lazy import lazy_exports

_EXPORTS = {
    name: ".token_classification" for name in ("ExportError", "check_exportable", "export", "main", "predict_exported")
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
