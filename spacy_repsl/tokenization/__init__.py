"""From spaCy docs to decoder inputs: subword pieces, their alignment to tokens, windows."""
