"""spacy-repsl: decoder-only language models as spaCy sequence labellers.

This module stays import-light: spaCy imports every installed plugin on `spacy.blank`, so
transformers, peft and bitsandbytes load only when a model is built.
"""

from .about import __version__
from .pipeline.saving import save_pipeline

__all__ = ["__version__", "save_pipeline"]
