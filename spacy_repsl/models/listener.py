"""`spacy-repsl.DecoderListener.v1`: the token vectors of a shared `repsl_decoder`, inside another
component's model (spaCy's `ner`, `spancat`, `textcat`, `tagger`, ...).

As spaCy's `Tok2VecListener` and spacy-transformers' `TransformerListener` do: in training the
decoder component runs once per batch and hands its outputs and a backprop callback to every
listener (`receive`); each listener returns them to its component and sends the component's
gradient back, scaled by `grad_factor`; the decoder sums them and takes one step. In prediction the
decoder has already stored its vectors on each doc (`doc._.repsl_vectors[name]`), and the
listener reads them there, because components may batch docs differently when predicting.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

VECTORS_EXTENSION = "repsl_vectors"  # doc._.repsl_vectors: {decoder component name: (n tokens, width) array}


def register_extension() -> None:
    if not Doc.has_extension(VECTORS_EXTENSION):
        Doc.set_extension(VECTORS_EXTENSION, default=None)


@registry.architectures("spacy-repsl.DecoderListener.v1")
def build_decoder_listener_v1(
    width: Optional[int] = None, upstream: str = "*", grad_factor: float = 1.0
) -> Model[List[Doc], List[Floats2d]]:
    """One vector per spaCy token from a `repsl_decoder`, in place of a component's `tok2vec`.

    Args:
        width: the decoder's hidden size; None: set from the decoder when it is initialized (a
            number that differs is refused then, with the right one).
        upstream: the `repsl_decoder` component's name; "*": the pipeline's only one.
        grad_factor: the weight of this component's gradient in the decoder's update, >= 0 (0: the
            decoder is not trained through this component).

    Returns:
        Model: `List[Doc] -> List[Floats2d]`, per doc a `(len(doc), width)` array.

    Raises:
        ValueError: a negative or non-finite grad_factor, a width that is not a positive integer.
    """
    if (
        isinstance(grad_factor, bool)
        or not isinstance(grad_factor, (int, float))
        or not 0 <= grad_factor < float("inf")
    ):
        raise ValueError(f"grad_factor must be a finite number >= 0, got {grad_factor!r}.")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise ValueError(f"width must be a positive whole number or null (from the decoder), got {width!r}.")
    return DecoderListener(upstream, width, float(grad_factor))


class DecoderListener(Model):
    """A proxy layer for the outputs of a `repsl_decoder` component (see the module docstring)."""

    name = "repsl_decoder_listener"

    def __init__(self, upstream_name: str, width: Optional[int], grad_factor: float) -> None:
        Model.__init__(
            self,
            name=self.name,
            forward=forward,
            init=init,
            dims={"nO": width},
            attrs={"grad_factor": grad_factor, "upstream_pipe": None},
        )
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[Floats2d]] = None
        self._backprop: Optional[Callable] = None
        # True from spaCy's initialization until the decoder's first batch; an attribute of this
        # object, not of `attrs`, so a pipeline saved in between does not load into it.
        self.initializing = False

    @classmethod
    def get_batch_id(cls, docs: Iterable[Doc]) -> int:
        """A content hash of a batch, as spaCy's listeners compute it, to catch a batch the
        decoder did not run on."""
        return sum(sum(token.orth for token in doc) for doc in docs)

    def receive(self, batch_id: int, outputs: List[Floats2d], backprop: Callable) -> None:
        """The decoder's training outputs for a batch and the callback its gradient goes to."""
        self._batch_id, self._outputs, self._backprop = batch_id, outputs, backprop

    def forget(self) -> None:
        self._batch_id, self._outputs, self._backprop = None, None, None


def init(model: DecoderListener, X: Any = None, Y: Any = None) -> None:
    # spaCy initializes the layers above on sample docs the decoder has not run on: until the
    # decoder's first batch (`SharedDecoder.wake_listeners`), missing vectors read as zeros.
    model.initializing = True


def forward(model: DecoderListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if is_train and model._batch_id is not None:
        batch_id = model.get_batch_id(docs)
        if batch_id != model._batch_id:
            raise ValueError(
                f"{model.name} got a batch the decoder '{model.attrs['upstream_pipe']}' did not run on "
                f"(batch {batch_id}, decoder's {model._batch_id}): the decoder must come before this "
                "component in the pipeline and be updated on the same examples."
            )
        outputs, backprop = model._outputs, model._backprop
        assert outputs is not None and backprop is not None  # stored with the batch id above
        factor = model.attrs["grad_factor"]

        def backprop_scaled(d_outputs: List[Floats2d]) -> List[Doc]:
            backprop([d * factor for d in d_outputs] if factor != 1.0 else d_outputs)
            return []

        return outputs, backprop_scaled
    # Prediction, or training with the decoder frozen (then it must annotate): read the docs.
    outputs = [vectors_of(model, doc, model.initializing) for doc in docs]
    return outputs, lambda d_outputs: []


def vectors_of(model: DecoderListener, doc: Doc, initializing: bool) -> Floats2d:
    stored: Optional[Dict[str, Any]] = doc._.get(VECTORS_EXTENSION) if Doc.has_extension(VECTORS_EXTENSION) else None
    upstream = model.attrs["upstream_pipe"] or model.upstream_name
    if stored and upstream in stored:
        return stored[upstream]
    if initializing:  # shapes for spaCy's initialization of the layers above: no decoder run yet
        return model.ops.alloc2f(len(doc), model.get_dim("nO"))
    raise ValueError(
        f"No vectors from the repsl_decoder '{upstream}' on this doc: it must run before the components that "
        "listen to it (do not disable or exclude it, and put it first). When the decoder is frozen in "
        f"training, add it to [training] annotating_components."
    )
