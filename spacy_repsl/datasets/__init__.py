"""Converters from the public dataset formats to spaCy DocBins, gold marked exhaustively.

One module per dataset; each exposes `convert(input_dir, split=..., seed=...)` returning a
`Conversion` (docs per split and a report of spans that could not be placed on tokens).
`python -m spacy_repsl.datasets` is the command line the spaCy project calls.
"""

DATASETS = ("conll03", "rest14", "nlupp", "ace05", "demo")  # demo: generated, nothing to read
