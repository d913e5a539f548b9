"""The `repsl_tagger` component: a decoder LM as a span labeller for `doc.ents` or `doc.spans`.

This module is what spaCy imports, through the `spacy_factories` entry point, every time it
creates a pipeline; it must not import transformers, peft or bitsandbytes (nor torch itself),
which load only when a model is initialized or read from disk.
"""

from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union, cast

import numpy
from spacy.attrs import ENT_IOB, ENT_TYPE
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_get_examples
from spacy.util import minibatch
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, get_array_module, to_numpy

from ..iob.confidence import iob_entities, span_scores
from ..iob.scoring import target_spans
from ..iob.tags import decode, strict_iob, tag_ids, tag_names
from ..storage.atomic import atomic_directory
from .decoder_state import DecoderState, SavedPipelineMismatch, check_accept_changes, read_json_file  # noqa: F401
from .gold import ner_tags, span_tags

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-repsl.DecoderTagger.v2"
name = "Qwen/Qwen3-0.6B"
repetitions = 1
unmask = "none"
exit_layer = null
quantization = "nf4"
pooling = "first"
max_length = 256

[model.lora]
@misc = "spacy-repsl.lora.v1"
r = 16
alpha = 16
dropout = 0.1
"""

DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
# The span-group attribute naming the repsl_tagger whose scores a group holds, so a later
# repsl_tagger with another scores_key keeps them for the entities it keeps.
SCORED_BY = "scored_by"
# The span-group attribute with each scored span's [start_char, end_char, label] (`span_score_map`).
CHAR_SPANS = "char_spans"
DECODINGS = ("strict", "viterbi")


def check_saved_cfg(cfg: Any) -> None:
    """A saved cfg must be what to_disk writes; say what is wrong rather than fail at predict."""
    if not isinstance(cfg, dict):
        raise ValueError(f"The saved cfg must be a JSON object, got {type(cfg).__name__}: save the pipeline again.")
    labels = cfg.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise ValueError(
            f"The saved cfg's labels must be a non-empty list of names, got {labels!r}: save the pipeline again."
        )
    check_target(cfg.get("target", ""))
    if cfg.get("decoding", "strict") not in DECODINGS:
        raise ValueError(f"Invalid decoding {cfg['decoding']!r} in the saved cfg: use 'strict' or 'viterbi'.")
    check_temperature(cfg.get("temperature", 1.0), "in the saved cfg")


# What `spacy_repsl.calibrate` can fit (its token-level search spans [0.02, 50], the span-level one
# [0.1, 10]), with room on both sides; far outside, every score is 0/1 or every tag equally likely.
TEMPERATURE_RANGE = (0.01, 100.0)


def check_temperature(temperature: Any, where: str) -> float:
    """`temperature` as a float; ValueError unless it is a number in TEMPERATURE_RANGE."""
    low, high = TEMPERATURE_RANGE
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not low <= temperature <= high:
        raise ValueError(
            f"Invalid temperature {temperature!r} {where}: it must be a number in [{low:g}, {high:g}] "
            "(python -m spacy_repsl.calibrate fits one in that range; 1.0 leaves the scores as "
            "trained). Set cfg['temperature'] in that range, or calibrate and save the pipeline again."
        )
    return float(temperature)


def check_target(target: str) -> str:
    if isinstance(target, str) and (target == "ents" or (target.startswith("spans:") and len(target) > len("spans:"))):
        return target
    raise ValueError(
        f"Invalid target {target!r}: use 'ents' (writes doc.ents) or 'spans:<key>' (writes "
        "doc.spans[key], e.g. 'spans:aspects')."
    )


@Language.factory(
    "repsl_tagger",
    assigns=["doc.ents", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "target": "ents",
        "decoding": "strict",
        "bundle_base": False,
        "overwrite_ents": False,
        "overwrite": False,
        "threshold": 0.0,
        "scores_key": "ents",
        "accept_changes": [],
        "scorer": {"@scorers": "spacy-repsl.strict_iob_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_repsl_tagger(
    nlp: Language,
    name: str,
    model: Model,
    target: str,
    decoding: str,
    bundle_base: bool,
    overwrite_ents: bool,
    overwrite: bool,
    threshold: float,
    scores_key: str,
    accept_changes: List[str],
    scorer: Optional[Callable],
) -> "RepSLTagger":
    """The `repsl_tagger` factory: a decoder (or encoder) as a BIO span labeller.

    Args:
        nlp: the pipeline (passed by spaCy).
        name: the component's name (passed by spaCy).
        model: the architecture: `spacy-repsl.DecoderTagger.v2` by default (every method setting
            lives there), or `spacy-repsl.ListenerTagger.v1` on a shared `repsl_decoder`.
        target: `"ents"` writes `doc.ents`; `"spans:KEY"` writes `doc.spans[KEY]` (aspect terms,
            slots, event triggers). Default `"ents"`.
        decoding: "strict" (argmax tags read as strict IOB2, as the papers score) or "viterbi" (the
            most probable valid IOB2 sequence). Default `"strict"`.
        bundle_base: also copy the base model's files into the saved pipeline, so it loads with no
            hub. Default false.
        overwrite_ents: with target "ents", replace the entities already on a doc; by default they
            are kept, as spaCy's `ner` keeps them, and predictions fill only the tokens they leave.
            Default false.
        overwrite: the same for a `"spans:KEY"` target's span group. Default false.
        threshold: predicted spans whose confidence is below it are dropped, in [0, 1]; 0 (the
            default) keeps all.
        scores_key: with target "ents", the span group that mirrors `doc.ents` with each entity's
            confidence in `attrs["scores"]` (with `"spans:KEY"` the scores are in that group's
            attrs). Default `"ents"`.
        accept_changes: what may differ from the saved pipeline when it is loaded: "base", or method
            settings ("repetitions", "unmask", "exit_layer", "pooling", "positions", "bos",
            "max_length", "window_context", "lora_r", "lora_alpha", "lora_target_modules",
            "lora_bias"). Default `[]`: any difference is refused.
        scorer: default `spacy-repsl.strict_iob_scorer.v1` (strict IOB2 micro P/R/F, overall and
            per type).

    Returns:
        RepSLTagger: the component.

    Raises:
        ValueError: an unknown target or decoding, a threshold outside [0, 1], an unknown
            accept_changes entry.
    """
    return RepSLTagger(
        nlp.vocab,
        model,
        name,
        target=target,
        decoding=decoding,
        bundle_base=bundle_base,
        overwrite_ents=overwrite_ents,
        overwrite=overwrite,
        threshold=threshold,
        scores_key=scores_key,
        accept_changes=accept_changes,
        scorer=scorer,
    )


class RepSLTagger(DecoderState, TrainablePipe):
    """Labels spans (entities, aspect terms, slots, triggers) with a decoder LM."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "repsl_tagger",
        *,
        target: str = "ents",
        decoding: str = "strict",
        bundle_base: bool = False,
        overwrite_ents: bool = False,
        overwrite: bool = False,
        threshold: float = 0.0,
        scores_key: str = "ents",
        accept_changes: Sequence[str] = (),
        scorer: Optional[Callable] = None,
    ) -> None:
        if decoding not in DECODINGS:
            raise ValueError(f"Invalid decoding {decoding!r}: use 'strict' (the papers') or 'viterbi'.")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"Invalid threshold {threshold!r}: use a number from 0 (keep every span) to 1.")
        if not isinstance(scores_key, str) or not scores_key:
            raise ValueError(f"Invalid scores_key {scores_key!r}: use a span group name, e.g. 'ents'.")
        self.threshold = float(threshold)
        self.scores_key = scores_key
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.overwrite = bool(overwrite_ents if target == "ents" else overwrite)
        self.accept_changes = check_accept_changes(accept_changes)
        self.cfg: Dict[str, Any] = {
            "labels": [],
            "target": check_target(target),
            "decoding": decoding,
            "bundle_base": bool(bundle_base),
            "temperature": 1.0,  # fitted on dev by `spacy_repsl.calibrate`; saved with the pipeline
        }

    # Labels -------------------------------------------------------------------------------

    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    @property
    def tag_names(self) -> List[str]:
        return tag_names(self.labels)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str) or not label:
            raise ValueError(f"A label must be a non-empty string, got {label!r}.")
        if label in self.labels:
            return 0
        if self.model.attrs.get("runtime") is not None or (not self.owns_decoder and self._head().has_param("W")):
            raise ValueError(
                f"Cannot add label {label!r}: the model is already initialized with labels "
                f"{list(self.labels)}. Re-initialize the pipeline with the full label set."
            )
        self.cfg["labels"].append(label)
        return 1

    @property
    def owns_decoder(self) -> bool:
        """True with its own decoder (DecoderTagger.v1 or .v2); False on a shared repsl_decoder's
        listener (ListenerTagger.v1), whose decoder component holds the base and adapters."""
        return "settings" in self.model.attrs

    def _head(self) -> Model:
        """The layer whose width is the number of tags."""
        from ..models.listener_tagger import OUTPUT_LAYER

        return self.model if self.owns_decoder else self.model.get_ref(OUTPUT_LAYER)

    def _set_dims(self) -> None:
        n_tags = len(self.tag_names)
        head = self._head()
        if head.has_dim("nO") and head.get_dim("nO") not in (None, n_tags):
            raise ValueError(
                f"The model has {head.get_dim('nO')} tags but the labels {list(self.labels)} "
                f"need {n_tags}: the labels do not match the saved model."
            )
        head.set_dim("nO", n_tags)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Labels from `labels` (e.g. `spacy init labels` output) or the examples; then load."""
        validate_get_examples(get_examples, "RepSLTagger.initialize")
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            found: Set[str] = set()
            for example in get_examples():
                found.update(s.label_ for s in target_spans(example.reference, self.cfg["target"]))
            for label in sorted(found):
                self.add_label(label)
        if not self.labels:
            raise ValueError(
                f"No labels for {self.name}: the training examples have no spans in "
                f"{self.cfg['target']!r}. Check the target setting, or pass labels."
            )
        self._set_dims()
        if self.owns_decoder:
            self.model.initialize()
        else:  # the listener's width comes from the decoder, initialized before this component
            self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 10)])

    # Prediction ---------------------------------------------------------------------------

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Like spaCy's, but when a batch fails each doc is retried alone, so only the docs
        that fail reach the error handler; the rest are annotated and yielded in order."""
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                self.set_annotations(docs, self.predict(docs))
                yield from docs
            except Exception:
                for doc in docs:
                    try:
                        self.set_annotations([doc], self.predict([doc]))
                        yield doc
                    except Exception as error:
                        error_handler(self.name, self, [doc], error)

    def predict(self, docs: Iterable[Doc]) -> List[numpy.ndarray]:
        """Per doc, a (len(doc), n_tags) array of tag probabilities: softmax(logits / temperature)."""
        docs = list(docs)
        logits = self.model.predict(docs)
        temperature = check_temperature(self.cfg.get("temperature", 1.0), "in the tagger's cfg")
        if len(logits) < 2:
            return [softmax(scores, temperature) for scores in logits]
        xp = get_array_module(logits[0])
        # one call: row-wise, so the same numbers
        return split_like(softmax(xp.concatenate(logits), temperature), logits)

    def set_annotations(self, docs: Iterable[Doc], probs: Sequence[Any]) -> None:
        """Predicted spans, each with its confidence (`confidence.path_score`); spans below
        `threshold` are dropped. Spans already on the doc are kept unless overwriting (see
        `_set_scores` for their scores), and predictions that would touch a token they cover are left out. The
        scores: doc.spans[KEY].attrs["scores"] for "spans:KEY" (where spaCy's spancat puts them),
        doc.spans[scores_key] (a group mirroring doc.ents) for "ents"; one float per span, in order."""
        docs = list(docs)
        names = self.tag_names
        target = self.cfg["target"]
        key = target.split(":", 1)[1] if target != "ents" else None
        if key is None and not any(doc.has_annotation("ENT_IOB") for doc in docs):
            return self._set_new_ents(docs, probs)
        label_ids = {label: self.vocab.strings.add(label) for label in self.labels}
        for doc, doc_probs in zip(docs, probs):
            doc_probs = to_numpy(doc_probs)
            decoded = decode(doc_probs, names, self.cfg["decoding"])
            scored = {
                span: float(x)
                for span, x in zip(decoded, span_scores(doc_probs, names, decoded))
                if x >= self.threshold
            }
            kept = [] if self.overwrite else list(doc.ents if key is None else doc.spans.get(key, []))
            if kept:
                covered = {i for span in kept for i in range(span.start, span.end)}
                scored = {span: x for span, x in scored.items() if covered.isdisjoint(range(span[0], span[1]))}
            spans = kept + [Span(doc, start, end, label=label_ids[label]) for start, end, label in scored]
            if key is None:  # decoded spans come in order; kept ones may not
                doc.set_ents(sorted(spans, key=lambda s: s.start) if kept else spans, default="outside")
                self._set_scores(doc, list(doc.ents), scored, doc_probs, self.scores_key)
            else:
                self._set_scores(doc, spans, scored, doc_probs, key)

    def _set_scores(
        self, doc: Doc, spans: List[Span], new: Dict[Any, float], doc_probs: numpy.ndarray, key: str
    ) -> None:
        """spans as doc.spans[key] with attrs["scores"]: the scores of the spans just predicted
        (`new`, (start, end, label) -> score); a kept span keeps the score it already had (in this
        group, or in another repsl_tagger's under its own scores_key), else gets this model's if it
        knows the label, else NaN."""
        tuples = [(s.start, s.end, s.label_) for s in spans]
        chars = [(s.start_char, s.end_char, s.label_) for s in spans]
        previous = span_score_map(doc.spans.get(key))
        for name, group in doc.spans.items():  # another repsl_tagger's scores, under its own scores_key
            if name != key and isinstance(group.attrs.get(SCORED_BY), str):
                for span, score in span_score_map(group).items():
                    previous.setdefault(span, score)
        known = set(self.labels)
        unscored = [
            i for i, (t, c) in enumerate(zip(tuples, chars)) if t not in new and c not in previous and t[2] in known
        ]
        scores = numpy.array(
            [new.get(t, previous.get(c, numpy.nan)) for t, c in zip(tuples, chars)], dtype=numpy.float32
        )
        if unscored:
            scores[unscored] = span_scores(doc_probs, self.tag_names, [tuples[i] for i in unscored])
        doc.spans[key] = SpanGroup(doc, spans=spans, attrs=score_attrs(spans, scores, self.name))

    def _set_new_ents(self, docs: List[Doc], probs: Sequence[Any]) -> None:
        """Entities on docs that have none yet, for the whole batch at once: what `doc.set_ents`
        with the decoded Spans gives (tested), written as token attributes without making a
        Span per entity; then each doc's scores (and the threshold) per entity."""
        mode, names = self.cfg["decoding"], self.tag_names
        lengths = [len(doc) for doc in docs]
        if [len(p) for p in probs] != lengths:
            raise ValueError(
                f"{self.name}: got tag scores for {[len(p) for p in probs]} tokens but the docs have "
                f"{lengths}; pass the scores `predict` returned for these docs, in order."
            )
        if mode == "strict" and len(probs):
            ids = numpy.concatenate([to_numpy(p) for p in probs]).argmax(axis=1)
        else:
            ids = numpy.array([i for p in probs for i in tag_ids(to_numpy(p), names, mode)], dtype=numpy.int64)
        iob, label = strict_iob(ids, lengths)
        hashes = numpy.array([self.vocab.strings.add(name) for name in self.labels] + [0], dtype=numpy.uint64)
        start = 0
        for doc, length, doc_probs in zip(docs, lengths, probs):
            doc_iob, doc_label = iob[start : start + length], label[start : start + length]
            entities = iob_entities(doc_iob, doc_label, self.labels)
            doc_probs = to_numpy(doc_probs)
            scores = span_scores(doc_probs, names, entities)
            if self.threshold > 0.0:
                for (first, end, _), score in zip(entities, scores):
                    if score < self.threshold:
                        doc_iob[first:end], doc_label[first:end] = 2, -1
                keep = scores >= self.threshold
                entities, scores = [e for e, k in zip(entities, keep) if k], scores[keep]
            if length:  # label -1 (outside) reads the trailing 0
                doc.from_array([ENT_IOB, ENT_TYPE], cast(Any, numpy.stack([doc_iob, hashes[doc_label]], axis=1)))
            spans = [Span(doc, first, end, label=name) for first, end, name in entities]
            doc.spans[self.scores_key] = SpanGroup(doc, spans=spans, attrs=score_attrs(spans, scores, self.name))
            start += length

    # Training -----------------------------------------------------------------------------

    def gold_tags(self, example: Example) -> List[Optional[str]]:
        """IOB2 gold tags aligned to the predicted tokens; None where annotation is missing."""
        target = self.cfg["target"]
        tags: List[Optional[str]] = list(
            ner_tags(example) if target == "ents" else span_tags(example, target.split(":", 1)[1])
        )
        return tags

    def check_gold_labels(self, tag_lists: Sequence[Sequence[Optional[str]]]) -> None:
        unknown = sorted({t[2:] for tags in tag_lists for t in tags if t and t != "O"} - set(self.labels))
        if unknown:
            raise ValueError(
                f"Gold data has label(s) {unknown} that {self.name} was not initialized with "
                f"(labels: {list(self.labels)}). Re-run initialization on data that includes them, "
                "or add them to the labels file."
            )

    def get_loss(self, examples: Iterable[Example], scores: Sequence[Any]):
        """Mean cross-entropy over tokens with known gold tags (missing tags do not count)."""
        all_tags = [self.gold_tags(example) for example in examples]
        self.check_gold_labels(all_tags)
        index = {name: i for i, name in enumerate(self.tag_names)}
        scores = list(scores)
        if not scores:
            return 0.0, []
        xp = get_array_module(scores[0])
        # The whole batch at once (softmax is row-wise, so per-doc numbers are unchanged).
        gold = numpy.array([-1 if t is None else index[t] for tags in all_tags for t in tags], dtype="int64")
        grad = softmax(xp.concatenate(scores))  # d(cross-entropy)/d(logits) = probs - one-hot(gold)
        if len(gold) != len(grad):
            raise ValueError(
                f"{self.name}: {len(grad)} scored tokens but {len(gold)} gold tags; the scores "
                "must come from the examples' predicted docs, in order."
            )
        known = numpy.flatnonzero(gold >= 0)
        total = 0.0
        if len(known):
            rows, cols = xp.asarray(known), xp.asarray(gold[known])
            total = -float(xp.log(xp.clip(grad[rows, cols], 1e-12, None)).sum(dtype="float64"))
            grad[rows, cols] -= 1.0
        grad[xp.asarray(numpy.flatnonzero(gold < 0))] = 0.0
        grad *= 1.0 / max(len(known), 1)
        return total / max(len(known), 1), split_like(grad, scores)

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        if not any(len(eg.predicted) for eg in examples):
            return losses
        from ..models.decoder_tagger import get_runtime
        from ..storage.finite import check_gradients, check_loss

        self._updates = getattr(self, "_updates", 0) + 1
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        check_loss(loss, self.name, self._updates)
        backprop(d_scores)
        if self.owns_decoder:  # a shared decoder checks its own, when its listeners' gradients are in
            check_gradients(get_runtime(self.model).module.trainable_named_parameters(), self.name, self._updates)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def merge_adapters(self) -> int:
        """Fold the LoRA adapters into the base weights for inference (see the README)."""
        from ..models.decoder_tagger import merge_adapters

        return merge_adapters(self.model)

    # Serialization ------------------------------------------------------------------------

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """cfg (labels, target), decoder.json (the base reference), trainable.safetensors,
        and with bundle_base the base checkpoint in base/. Written atomically. On a listener:
        cfg and the head (spaCy's own format), the decoder being saved by its component."""
        if not self.owns_decoder:
            with atomic_directory(path) as tmp:
                super().to_disk(tmp, exclude=exclude)
            return
        self._decoder_to_disk(path, self.labels)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "RepSLTagger":
        if not self.owns_decoder:
            super().from_disk(path, exclude=exclude)
            self._load_cfg(dict(self.cfg))
            return self
        self._decoder_from_disk(Path(path), lambda cfg: self._load_cfg(cfg), lambda: self.labels)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        if not self.owns_decoder:
            return super().to_bytes(exclude=exclude)
        return self._decoder_to_bytes(self.labels)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "RepSLTagger":
        if not self.owns_decoder:
            super().from_bytes(bytes_data, exclude=exclude)
            self._load_cfg(dict(self.cfg))
            return self
        self._decoder_from_bytes(bytes_data, lambda cfg: self._load_cfg(cfg), lambda: self.labels)
        return self

    def _load_cfg(self, cfg: Dict[str, Any]) -> None:
        check_saved_cfg(cfg)
        if (
            (self.model.attrs.get("runtime") is not None or (not self.owns_decoder and self._head().has_param("W")))
            and self.labels
            and list(cfg["labels"]) != list(self.labels)
        ):
            raise ValueError(f"The saved labels {cfg['labels']} do not match this model's {list(self.labels)}.")
        self.cfg.update(cfg)
        self._set_dims()


def span_score_map(group: Optional[SpanGroup]) -> Dict[Tuple[int, int, str], float]:
    """(start_char, end_char, label) -> score of a span group with attrs["scores"] (one per span),
    else {}. Keyed by characters, which retokenizing leaves alone: spaCy's retokenizer (e.g.
    `merge_entities`) does not move span groups, so their token offsets go stale or out of range
    (E035), while the character offsets a repsl_tagger writes beside the scores (attrs[CHAR_SPANS])
    still name the spans. A group without them (written by other code) is read through its spans,
    and gives {} when they no longer fit the doc."""
    if group is None or group.attrs.get("scores") is None:
        return {}
    scores, char_spans = group.attrs["scores"], group.attrs.get(CHAR_SPANS)
    if char_spans is not None and len(char_spans) == len(scores):
        return {(int(start), int(end), str(label)): float(x) for (start, end, label), x in zip(char_spans, scores)}
    try:
        spans = list(group)
    except IndexError:  # the doc was retokenized after the group was written
        return {}
    if len(scores) != len(spans):
        return {}
    return {(s.start_char, s.end_char, s.label_): float(x) for s, x in zip(spans, scores)}


def score_attrs(spans: Sequence[Any], scores: Any, component: str) -> Dict[str, Any]:
    """A score group's attrs: one score per span, each span's (start_char, end_char, label), and
    the component that wrote them (see `span_score_map`)."""
    return {"scores": scores, CHAR_SPANS: [[s.start_char, s.end_char, s.label_] for s in spans], SCORED_BY: component}


def repsl_tagger_of(nlp: Language, component: Optional[str] = None) -> "RepSLTagger":
    """The pipeline's repsl_tagger named `component`, or its only one when `component` is None.

    Raises ValueError naming the components when there is none, when `component` is not a
    repsl_tagger, and when there are several and `component` is None (never a guess)."""
    taggers = {name: pipe for name, pipe in nlp.pipeline if isinstance(pipe, RepSLTagger)}
    if component is not None:
        if component not in taggers:
            raise ValueError(
                f"The pipeline has no repsl_tagger named {component!r} (its repsl_taggers: "
                f"{', '.join(taggers) or 'none'}; all components: {', '.join(nlp.pipe_names) or 'none'})."
            )
        return taggers[component]
    if len(taggers) > 1:
        raise ValueError(
            f"The pipeline has {len(taggers)} repsl_taggers ({', '.join(taggers)}): say which one with "
            f"--component NAME (in Python: component=NAME)."
        )
    if not taggers:
        raise ValueError(f"The pipeline has no repsl_tagger (components: {', '.join(nlp.pipe_names) or 'none'}).")
    return next(iter(taggers.values()))


def split_like(array: Any, parts: Sequence[Any]) -> List[Any]:
    """`array`, the rows of `parts` concatenated, cut back into arrays of the parts' lengths."""
    return get_array_module(array).split(array, numpy.cumsum([len(part) for part in parts])[:-1].tolist())


def softmax(scores: Any, temperature: float = 1.0) -> Any:
    """Row-wise softmax(scores / temperature) of a (n, tags) array. The rows are shifted to their
    maximum before the division, so no temperature overflows to inf (and NaN)."""
    xp = get_array_module(scores)
    shifted = scores - scores.max(axis=1, keepdims=True) if len(scores) else scores
    if temperature != 1.0:
        shifted = shifted / temperature
    exp = xp.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
