"""`python -m spacy_repsl.export PIPELINE OUT_DIR`: a trained repsl_tagger as an ordinary
transformers `*ForTokenClassification` checkpoint, loadable with `AutoModelForTokenClassification`
and no code of ours (vLLM's `token_classify` task serves the same classes).

What is written: the base decoder with the LoRA adapters merged into its float32 weights, cut at
the exit layer (`num_hidden_layers` = L), the tagger's head as the classifier (`score`), the tag
names as `id2label` ("O", "B-X", "I-X", ...), the tokenizer, and a `repsl` entry in config.json
with how inputs must be built (repetitions, BOS, pooling, windows). The folder's README.md is the
recipe; `predict_exported` is the recipe as code, with the pipeline's own tokenization and windows.

Exported exactly, for the settings a stock library can run: r = 0 (the plain causal decoder),
early exit, and repetition (the input is built by the recipe: the piece ids repeated r + 1 times,
BOS once in front when the tokenizer adds one, logits read from the last copy). Refused, with the
reason: unmasking (no `*ForTokenClassification` of this transformers release removes the causal
mask in every case: Gemma's `use_bidirectional_attention` only turns the attention module's own
causal flag off, and the model still builds a causal mask for padded batches and eager attention),
positions="restart" with repetition (a config cannot renumber copies), and model types without a
token-classification class. A pipeline on an NF4/int8 base is exported from the base's original
float weights (the quantized forward differs from it by the quantization error). A calibrated
pipeline's temperature is folded into the classifier (its weights and bias divided by T). Docs
longer than the pipeline's `max_length` pieces are labelled by spaCy in overlapping windows
(`config.repsl` records max_length and window_context); the exported model equals the pipeline
on inputs within max_length pieces, and a longer input must be windowed the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

RECIPE = """# {name}: a spacy-repsl tagger as a transformers token classifier

Exported from `{pipeline}` by `python -m spacy_repsl.export`. Labels (IOB2): {labels}.

Settings: repetitions r = {repetitions}, BOS {bos}, pooling "{pooling}", exit layer {exit_layer}
(the model holds only the layers that ran), windows of max_length = {max_length} pieces with
window_context = {window_context} pieces of context on either side.

## Exactly the pipeline's probabilities (with spacy-repsl installed)

```python
import spacy
from transformers import AutoModelForTokenClassification, AutoTokenizer
from spacy_repsl.export import predict_exported

model = AutoModelForTokenClassification.from_pretrained("{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
docs = [spacy.blank("{lang}").make_doc(text) for text in ["John Smith lives in Paris.", "Isn't it?"]]
for doc, probs in zip(docs, predict_exported(model, tokenizer, docs)):   # (len(doc), n_tags) each
    print([(token.text, model.config.id2label[int(i)]) for token, i in zip(doc, probs.argmax(-1))])
```

`predict_exported` tokenizes as the pipeline does (every spaCy token pieces of its own), cuts the
same windows, repeats each as below and reads the last copy: equal to the pipeline within 1e-5,
on any text (tested). A calibrated temperature ({temperature}) is already in the classifier.

## With transformers alone

The model is an ordinary token classifier; what it needs is the input built this way:

```python
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

model = AutoModelForTokenClassification.from_pretrained("{out}").eval()
tokenizer = AutoTokenizer.from_pretrained("{out}")
repsl = model.config.repsl
words = ["John", "Smith", "lives", "in", "Paris", "."]
pieces = [tokenizer(("" if i == 0 else " ") + w, add_special_tokens=False)["input_ids"] for i, w in enumerate(words)]
ids = [p for word in pieces for p in word]
prefix, suffix = repsl["prefix_ids"], repsl["suffix_ids"]   # a decoder's BOS; an encoder's [CLS] and [SEP]
copies = repsl["repetitions"] + 1
if repsl["bos"] == "every":
    inputs = (prefix + ids) * copies + suffix
else:
    inputs = prefix + ids * copies + suffix
start = len(inputs) - len(suffix) - len(ids)        # the last copy: it has seen the whole sentence
with torch.no_grad():
    logits = model(input_ids=torch.tensor([inputs])).logits[0, start:]
firsts = [sum(len(p) for p in pieces[:i]) for i in range(len(words))]
tags = [model.config.id2label[int(i)] for i in logits[firsts].argmax(-1)]   # pooling "first"
```

With pooling "mean", a word's logits are the mean of its pieces' logits (the head is linear).
This equals the pipeline when each word's pieces are the pieces the pipeline gives it. Above,
every word is encoded on its own after a space: right for space-separated words, not for text
such as "Paris." or "isn't", where the pipeline encodes the text whole and splits only pieces
that cross a spaCy token boundary (and some tokenizers add a space of their own): there the
probabilities differ (by up to 0.39 on the tiny test models). Inputs longer than max_length pieces (before
repetition) are labelled in windows. `predict_exported` does both exactly.
"""


class ExportError(ValueError):
    """A pipeline whose settings no stock transformers class can run exactly."""


def check_exportable(settings: Any, model_type: str) -> None:
    """Refuse what no stock `*ForTokenClassification` runs exactly; the message says why."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

    if model_type not in MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES:
        raise ExportError(
            f"transformers has no token-classification class for model_type {model_type!r}, so it "
            "cannot be exported as one (those that have: llama, mistral, qwen3, gemma, gemma2, phi3, "
            "smollm3, ...)."
        )
    if not settings.unmask.is_none:
        raise ExportError(
            f"unmask={str(settings.unmask)!r} cannot be exported: no *ForTokenClassification of this transformers "
            "release removes the causal mask in every case (Gemma's use_bidirectional_attention only turns the "
            "attention module's causal flag off, and the model still builds a causal mask for padded batches and "
            "eager attention), and no config can name a middle band, layer groups or single layers. Serve it "
            "with spaCy, or train with repetitions instead."
        )
    if settings.positions != "continuous" and settings.repetitions > 0:
        raise ExportError(
            "positions='restart' cannot be exported: a config cannot renumber the copies of a "
            "repeated input. Train with positions='continuous' (the default)."
        )


def linear_head(classifier: Any) -> Any:
    """The classifier's linear layer over the base model's states (`score` in decoders,
    `classifier` in encoders). Raises ExportError when the class puts more than dropout between
    the two (ModernBERT's prediction head: dense, activation, norm), which a linear head of ours
    cannot be written into exactly."""
    import torch

    children = {name: m for name, m in classifier.named_children() if name != classifier.base_model_prefix}
    linear = [name for name, m in children.items() if isinstance(m, torch.nn.Linear)]
    extra = [name for name, m in children.items() if name not in linear and not isinstance(m, torch.nn.Dropout)]
    if len(linear) != 1 or extra:
        raise ExportError(
            f"{type(classifier).__name__} applies {', '.join(extra) or 'more than one linear layer'} between the base "
            "model and its classifier, so the tagger's linear head cannot be written into it exactly. Serve this "
            "pipeline with spaCy."
        )
    return children[linear[0]]


def base_override(pipeline: Path, base: str) -> dict:
    """spacy.load overrides pointing every repsl_tagger of `pipeline` at the base model `base`."""
    from spacy.util import load_config

    config = load_config(pipeline / "config.cfg", interpolate=False)
    names = [name for name, block in config["components"].items() if block.get("factory") == "repsl_tagger"]
    return {f"components.{name}.model.name": base for name in names}


def export(
    pipeline: Union[str, Path], out: Union[str, Path], base: Optional[str] = None, component: Optional[str] = None
) -> Path:
    """Write the token-classification checkpoint of `pipeline` (a saved pipeline directory) to
    `out` (new or empty); returns `out`. `base`: where the base model is now, when it moved since
    the pipeline was saved (its fingerprint is still checked). `component`: which repsl_tagger,
    required when the pipeline has several. Raises ExportError for settings it cannot express,
    FileExistsError for a non-empty `out`, ValueError for a missing or ambiguous component."""
    import spacy
    import torch
    from transformers import AutoModelForTokenClassification

    from ..models.base import build_base
    from ..models.decoder_tagger import get_runtime, set_folded
    from ..pipeline.tagger import repsl_tagger_of
    from ..storage.atomic import atomic_directory
    from ..tokenization.windows import resolved_context

    pipeline, out = Path(pipeline), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder: choose a new folder.")
    nlp = spacy.load(pipeline, config=base_override(pipeline, base) if base else {})
    tagger = repsl_tagger_of(nlp, component)
    runtime = get_runtime(tagger.model)
    settings = tagger.model.attrs["settings"]
    decoder = runtime.module.decoder
    check_exportable(settings, decoder.backbone.config.model_type)
    set_folded(runtime, False)
    base = str(runtime.base_path or decoder.settings.name)
    fresh, _ = build_base(
        dataclasses.replace(
            decoder.settings,
            name=base,
            revision=None,
            local_files_only=True,
            quantization=None,
            compute_dtype="float32",
            device="cpu",
        )
    )
    trained = {n: p for n, p in runtime.module.trainable_state().items() if n.startswith("decoder.")}
    own = dict(fresh.named_parameters())
    with torch.no_grad():
        for name, value in trained.items():
            own[name[len("decoder.") :]].copy_(value.to(torch.float32).cpu())
    backbone = fresh.model.merge_and_unload() if hasattr(fresh.model, "merge_and_unload") else fresh.model
    config = backbone.config
    names = tagger.tag_names
    config.num_labels = len(names)
    config.id2label = dict(enumerate(names))
    config.label2id = {n: i for i, n in enumerate(names)}
    config.architectures = None
    attrs = tagger.model.attrs
    config.repsl = {
        "repetitions": settings.repetitions,
        "bos": settings.bos,
        "bos_token_id": decoder.bos_token_id,
        "prefix_ids": decoder.prefix_ids,
        "suffix_ids": decoder.suffix_ids,
        "positions": settings.positions,
        "pooling": attrs["pooling"],
        "exit_layer": settings.exit_layer,
        "target": tagger.cfg["target"],
        "max_length": attrs["max_length"],
        # the context used, a number also where the setting is null (its default)
        "window_context": resolved_context(attrs["max_length"], attrs["window_context"]),
        "temperature": float(tagger.cfg.get("temperature", 1.0)),
        # the piece a token gets when its text encodes to nothing (`predict_exported`)
        "placeholder_id": int(runtime.placeholder_id),
        "lang": nlp.lang,
    }
    classifier = AutoModelForTokenClassification.from_config(config, dtype=torch.float32)
    head = linear_head(classifier)
    getattr(classifier, classifier.base_model_prefix).load_state_dict(backbone.state_dict())
    temperature = float(tagger.cfg.get("temperature", 1.0))  # a calibrated pipeline's: softmax(head / T)
    with torch.no_grad():
        head.weight.copy_(runtime.module.head.weight.detach().float().cpu() / temperature)
        head.bias.copy_(runtime.module.head.bias.detach().float().cpu() / temperature)
    with atomic_directory(out) as tmp:
        classifier.save_pretrained(tmp)
        runtime.tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(
            RECIPE.format(
                name=out.name,
                pipeline=pipeline,
                labels=", ".join(tagger.labels),
                out=out,
                **config.repsl,
            )
        )
    return out


def predict_exported(model: Any, tokenizer: Any, docs: Sequence[Any]) -> List[Any]:
    """Per doc, the (len(doc), n_tags) float32 tag probabilities of an exported tagger, computed
    as the pipeline computes them: its tokenization (every spaCy token its own pieces), its
    windows (`config.repsl`'s max_length and window_context, cut at sentence starts where the doc
    has them), each window repeated as `config.repsl` says, the last copy's logits read at each
    token's first piece (pooling "first") or averaged over its pieces ("mean"), then a softmax
    (a calibrated temperature is already in the classifier). Equal to the pipeline's `predict`
    within 1e-5 on natural text (tests/export/test_export.py).

    model: the exported folder's `AutoModelForTokenClassification` (put in eval mode here);
    tokenizer: its `AutoTokenizer`; docs: spaCy Docs made by a tokenizer of the pipeline's
    language (`config.repsl["lang"]`, e.g. `spacy.blank("en")`). One window per forward pass,
    no padding. Raises ValueError for a folder exported before `placeholder_id` was recorded."""
    import numpy
    import torch

    from ..tokenization.pieces import build_batch, tokenize_docs

    repsl = model.config.repsl
    if "placeholder_id" not in repsl:
        raise ValueError(
            "This folder was exported by an older spacy-repsl (config.repsl has no placeholder_id): "
            "export the pipeline again."
        )
    model.eval()
    docs = list(docs)
    pieces = tokenize_docs(tokenizer, docs, repsl["placeholder_id"])
    batch = build_batch(pieces, repsl["max_length"], repsl["window_context"], repsl["pooling"])
    prefix, suffix, copies = list(repsl["prefix_ids"]), list(repsl["suffix_ids"]), repsl["repetitions"] + 1
    window_logits = []
    with torch.no_grad():
        for ids in batch.sequences:
            inputs = ((prefix + ids) * copies if repsl["bos"] == "every" else prefix + ids * copies) + suffix
            start = len(inputs) - len(suffix) - len(ids)  # the last copy: it has seen the whole window
            window_logits.append(model(input_ids=torch.tensor([inputs])).logits[0, start : start + len(ids)].float())
    if repsl["pooling"] == "first":
        rows = [window_logits[w][p] for w, p in zip(batch.token_window, batch.token_first)]
    else:
        pooled: List[List[Any]] = [[] for _ in range(batch.n_tokens)]
        for w, p, t in zip(batch.piece_window, batch.piece_position, batch.piece_token):
            pooled[t].append(window_logits[w][p])
        rows = [torch.stack(parts).mean(0) for parts in pooled]
    n_tags = model.config.num_labels
    probs = torch.softmax(torch.stack(rows), -1).numpy() if rows else numpy.zeros((0, n_tags), dtype=numpy.float32)
    cuts = numpy.cumsum(batch.doc_lengths)[:-1].tolist()
    return [p.astype(numpy.float32) for p in numpy.split(probs, cuts)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pipeline", type=Path, help="a saved spaCy pipeline with a repsl_tagger")
    parser.add_argument("out", type=Path, help="the folder to write (new or empty)")
    parser.add_argument(
        "--base", default=None, help="the base model's directory, if it moved since the pipeline was saved"
    )
    parser.add_argument(
        "--component", default=None, help="the repsl_tagger to export, by name (required when the pipeline has several)"
    )
    args = parser.parse_args(argv)
    try:
        out = export(args.pipeline, args.out, base=args.base, component=args.component)
    except (ValueError, FileExistsError, FileNotFoundError, OSError) as error:
        message = str(error)
        if "spacy.load(PIPELINE, config=" in message:  # the loader's advice, in this command's words
            message = message.split(" Point it at")[0] + " Pass the base's new location: --base NEW/PATH."
        print(f"export: {message}", file=sys.stderr)
        return 1
    print(
        f"Wrote a {json.loads((out / 'config.json').read_text())['model_type']} token classifier to {out}; "
        f"load it with AutoModelForTokenClassification.from_pretrained('{out}') (recipe: {out / 'README.md'})."
    )
    return 0
