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
def build_listener_tagger_v1(
    tok2vec: Model[List[Doc], List[Floats2d]], head_dropout: float = 0.1, nO: Optional[int] = None
) -> Model[List[Doc], List[Floats2d]]:
    """`repsl_tagger`'s BIO head on a shared `repsl_decoder`'s vectors.

    Args:
        tok2vec: a `spacy-repsl.DecoderListener.v1`.
        head_dropout: the dropout before the head, in [0, 1).
        nO: the number of tags (2 x labels + 1), set from the labels.

    Returns:
        Model: `List[Doc] -> List[Floats2d]`, per doc a `(len(doc), nO)` array of logits.

    Raises:
        ValueError: a dropout outside [0, 1).
    """
    if not 0.0 <= head_dropout < 1.0:
        raise ValueError(f"head_dropout must be in [0, 1), got {head_dropout!r}.")
    output = Linear(nO=nO)
    head: Model[Floats2d, Floats2d] = chain(Dropout(head_dropout), output)
    model: Model[List[Doc], List[Floats2d]] = chain(tok2vec, with_array(head))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref(OUTPUT_LAYER, output)
    return model
