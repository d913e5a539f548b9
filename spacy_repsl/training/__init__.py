"""Training beyond `spacy train`: a loop that checkpoints and resumes (`loop.train`), and what a
checkpoint holds (`state`). `python -m spacy_repsl.training CONFIG --output DIR` is `spacy train`
that resumes a killed run."""

from ..lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "train": ".loop",
        "train_from_config": ".loop",
        "CHECKPOINT_DIR": ".loop",
        "CheckpointMismatch": ".loop",
        "OutputInUse": ".loop",
    },
)
