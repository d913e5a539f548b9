"""`python -m spacy_repsl.calibrate PIPELINE DEV TEST`: how well a repsl_tagger's entity scores are
calibrated, and a temperature fitted on dev (`run`; the formulas are `spacy_repsl.iob.calibration`'s)."""

from ..lazy import lazy_exports

_EXPORTS = {"calibrate": ".run", "main": ".run", "report_name": ".run"}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
