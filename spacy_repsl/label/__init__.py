"""`python -m spacy_repsl.label PIPELINE INPUT OUTPUT`: a trained pipeline over a corpus.

Rooms: `sources` reads the input formats as a stream of `Item`s (each with its file and line),
`records` turns a labelled doc into an output record, `sinks` writes the output formats (and
finds where an interrupted run stopped), `progress` reports, `run` drives the local engine and
the Ray Data engine (`spacy_repsl.engines.ray_data`) over the same items and sinks.
"""
