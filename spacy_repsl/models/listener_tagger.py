"""`spacy-repsl.ListenerTagger.v1`: `repsl_tagger`'s head on a shared decoder's token vectors.

The tagger's own model (`DecoderTagger`) runs a decoder; this one reads the vectors of a
`repsl_decoder` through a listener (`DecoderListener.v1`) and adds what `DecoderTagger` adds on
top of them: dropout and a linear layer to one logit per tag. The decoder, its adapters and its
base checks live in the `repsl_decoder` component.
"""
from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Linear, Model, chain, with_array
from thinc.types import Floats2d

OUTPUT_LAYER = "output_layer"


@registry.architectures("spacy-repsl.ListenerTagger.v1")
def build_listener_tagger_v1(tok2vec: Model[List[Doc], List[Floats2d]], head_dropout: float = 0.1,
                             nO: Optional[int] = None) -> Model[List[Doc], List[Floats2d]]:
    """tok2vec: a `spacy-repsl.DecoderListener.v1`; head_dropout as DecoderTagger's (the
    dropout before the head); nO: the number of tags (set from the labels). Output: per doc,
    (n tokens, nO) logits. Raises ValueError for a dropout outside [0, 1)."""
    if not 0.0 <= head_dropout < 1.0:
        raise ValueError(f"head_dropout must be in [0, 1), got {head_dropout!r}.")
    output = Linear(nO=nO)
    model = chain(tok2vec, with_array(chain(Dropout(head_dropout), output)))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref(OUTPUT_LAYER, output)
    return model
