"""The `repsl_decoder` component: one decoder pass per batch for the whole pipeline.

spaCy's own components (`ner`, `spancat`, `textcat`, `tagger`, `parser`, ...) read its token
vectors through `spacy-repsl.DecoderListener.v1` layers, as they read a shared `tok2vec` through
`spacy.Tok2VecListener.v1`: the decoder (with repetition, unmasking, early exit, LoRA) runs once
per batch whatever the number of listeners, and their gradients are summed into one update.

Like `repsl_tagger`, this module is imported by spaCy's entry points and imports no torch.
"""

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union, cast

from spacy.language import Language
from spacy.pipeline import Tok2Vec
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from ..models.listener import VECTORS_EXTENSION, DecoderListener, register_extension
from .decoder_state import DecoderState, check_accept_changes
from .tagger import DEFAULT_MODEL_CONFIG

# repsl_tagger's default decoder, without the head
DEFAULT_DECODER_CONFIG = DEFAULT_MODEL_CONFIG.replace('"spacy-repsl.DecoderTagger.v2"', '"spacy-repsl.Decoder.v2"')
DEFAULT_DECODER_MODEL = Config().from_str(DEFAULT_DECODER_CONFIG)["model"]


@Language.factory(
    "repsl_decoder",
    assigns=[f"doc._.{VECTORS_EXTENSION}"],
    default_config={"model": DEFAULT_DECODER_MODEL, "set_tensor": False, "bundle_base": False, "accept_changes": []},
)
def make_repsl_decoder(
    nlp: Language, name: str, model: Model, set_tensor: bool, bundle_base: bool, accept_changes: List[str]
) -> "SharedDecoder":
    """The `repsl_decoder` factory: one decoder pass per batch for the components that listen to it.

    Args:
        nlp: the pipeline (passed by spaCy).
        name: the component's name (passed by spaCy).
        model: default `spacy-repsl.Decoder.v2` (every method setting of `DecoderTagger.v2` but the
            head).
        set_tensor: also set `doc.tensor` (spaCy's place for token vectors; hidden size x 4 bytes
            per token, 14 KB a token for a 3,584-wide 7B model, kept with every doc you keep).
            Default false.
        bundle_base: as `repsl_tagger`'s (default false).
        accept_changes: as `repsl_tagger`'s (default `[]`).

    Returns:
        SharedDecoder: the component; its vectors go to `doc._.repsl_vectors[name]`.
    """
    return SharedDecoder(
        nlp.vocab, model, name, set_tensor=set_tensor, bundle_base=bundle_base, accept_changes=accept_changes
    )


def refuse_copy(*_: Any) -> Any:
    raise ValueError(
        "nlp.replace_listeners cannot give a component its own copy of a repsl_decoder: the copy would load a "
        "second base model (memory) and is not supported. To train a component on a frozen decoder, set its "
        "listener's grad_factor = 0 (or freeze the decoder and add it to [training] annotating_components); to "
        "reuse a trained component elsewhere, source it together with its decoder."
    )


class SharedDecoder(DecoderState, Tok2Vec):
    """A decoder LM's token vectors for the components that listen to it."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "repsl_decoder",
        *,
        set_tensor: bool = False,
        bundle_base: bool = False,
        accept_changes: Sequence[str] = (),
    ) -> None:
        super().__init__(vocab, model, name)
        register_extension()
        self.accept_changes = check_accept_changes(accept_changes)
        self.cfg: Dict[str, Any] = {"set_tensor": bool(set_tensor), "bundle_base": bool(bundle_base)}
        model.attrs["replace_listener_cfg"] = refuse_copy  # refused before spaCy changes any config

    # Listeners ----------------------------------------------------------------------------

    def find_listeners(self, component: Any) -> None:
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, DecoderListener) and node.upstream_name in names:
                    self.add_listener(node, component.name)

    def add_listener(self, listener: Any, component_name: str) -> None:
        listener.attrs["upstream_pipe"] = self.name
        super().add_listener(listener, component_name)
        self._set_listener_width(listener)

    def _set_listener_width(self, listener: Any) -> None:
        if not self.model.has_dim("nO") or self.model.get_dim("nO") is None:
            return  # not loaded yet: set at initialize
        width = self.model.get_dim("nO")
        if listener.has_dim("nO") and listener.get_dim("nO") not in (None, width):
            raise ValueError(
                f"A listener of {self.name} expects vectors of width {listener.get_dim('nO')}, but the decoder gives "
                f"{width}: set width = {width} (or null) in its spacy-repsl.DecoderListener.v1 config."
            )
        listener.set_dim("nO", width, force=True)

    # Initialization and prediction ----------------------------------------------------------

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        validate_get_examples(get_examples, "SharedDecoder.initialize")
        self.model.initialize()
        for listener in self.listeners:
            self._set_listener_width(listener)

    def wake_listeners(self) -> None:
        """From the decoder's first batch on, a listener given a doc without vectors refuses it."""
        for listener in self.listeners:
            cast(Any, listener).initializing = False  # our DecoderListeners (spaCy types them as its own)

    def predict(self, docs: Iterable[Doc]) -> List[Any]:
        self.wake_listeners()
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [self.model.ops.alloc2f(0, self.model.get_dim("nO")) for _ in docs]
        return self.model.predict(docs)

    def set_annotations(self, docs: Sequence[Doc], vectors: Sequence[Any]) -> None:
        for doc, doc_vectors in zip(docs, vectors):
            if doc_vectors.shape[0] != len(doc):
                raise ValueError(f"{self.name} produced {doc_vectors.shape[0]} vectors for a doc of {len(doc)} tokens.")
            stored = dict(doc._.get(VECTORS_EXTENSION) or {})
            stored[self.name] = doc_vectors
            doc._.set(VECTORS_EXTENSION, stored)
            if self.cfg["set_tensor"]:
                doc.tensor = doc_vectors

    # Training -------------------------------------------------------------------------------

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the decoder once on the batch and hand its vectors to every listener; the last
        listener's backprop sends the summed gradients through the decoder and steps once. With
        every listener at grad_factor 0 the decoder only predicts (no graph, no step)."""
        from ..models.decoder_tagger import get_runtime
        from ..storage.finite import check_gradients

        examples = list(examples)
        validate_examples(examples, "SharedDecoder.update")
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        listeners = self.listeners
        self.wake_listeners()
        if not listeners or not any(len(doc) for doc in docs):
            return losses
        trains = any(listener.attrs["grad_factor"] > 0 for listener in listeners)
        if trains:
            vectors, backprop_decoder = self.model.begin_update(docs)
        else:
            vectors, backprop_decoder = self.predict(docs), None
        d_vectors = [self.model.ops.alloc2f(*v.shape) for v in vectors]
        self._updates = getattr(self, "_updates", 0) + 1

        def accumulate_gradient(one_d_vectors: List[Any]) -> List[Doc]:
            for i, d in enumerate(one_d_vectors):
                d_vectors[i] += d
                losses[self.name] += float((d**2).sum())
            return []

        def backprop(one_d_vectors: List[Any]) -> List[Doc]:
            accumulate_gradient(one_d_vectors)
            if backprop_decoder is not None:
                backprop_decoder(d_vectors)
                check_gradients(get_runtime(self.model).module.trainable_named_parameters(), self.name, self._updates)
                if sgd is not None:
                    self.finish_update(sgd)
            return []

        batch_id = DecoderListener.get_batch_id(docs)
        for listener in listeners[:-1]:
            listener.receive(batch_id, vectors, accumulate_gradient)
        listeners[-1].receive(batch_id, vectors, backprop)
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Any) -> None:
        return None  # the listening components have the losses

    def add_label(self, label: str) -> int:
        raise NotImplementedError(f"{self.name} has no labels: the components listening to it do.")

    def merge_adapters(self) -> int:
        """Fold the LoRA adapters into the base weights for inference (see `repsl_tagger`'s)."""
        from ..models.decoder_tagger import merge_adapters

        return merge_adapters(self.model)

    # Serialization ------------------------------------------------------------------------

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """cfg, decoder.json (the base reference), trainable.safetensors (the adapters), and with
        bundle_base the base checkpoint in base/. Written atomically."""
        self._decoder_to_disk(path, ())

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "SharedDecoder":
        self._decoder_from_disk(Path(path), self._load_cfg, tuple)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return self._decoder_to_bytes(())

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "SharedDecoder":
        self._decoder_from_bytes(bytes_data, self._load_cfg, tuple)
        return self

    def _load_cfg(self, cfg: Dict[str, Any]) -> None:
        if not isinstance(cfg, dict):
            raise ValueError(f"The saved cfg of {self.name} must be a JSON object: save the pipeline again.")
        self.cfg.update({k: cfg[k] for k in ("bundle_base",) if k in cfg})
