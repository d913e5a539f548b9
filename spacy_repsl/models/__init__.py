"""thinc architectures: the decoder tagger and the torch module it wraps."""
