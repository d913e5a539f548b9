"""Pure functions over IOB2 tags and spans: the tag set and its decodings (`tags`), the papers'
strict scorer (`scoring`), entity scores from tag probabilities (`confidence`) and their
calibration (`calibration`). numpy only: no torch, no spaCy model."""
