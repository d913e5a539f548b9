"""Speed and memory benchmark of repetition x early exit (see __main__)."""
