"""Our training step (`nlp.update` with the shipped configs' optimizer) against the step a user
would write with transformers + peft instead, on the same batches.

The hand-written step: fast tokenizer, the first piece of every word labelled (-100 elsewhere;
for r > 0 the ids repeated with BOS once and only the last copy labelled), right padding,
`AutoModelForTokenClassification` with peft LoRA (the same r, alpha, dropout and target
modules), its own cross-entropy, `clip_grad_norm_(1.0)`, `torch.optim.AdamW` with the configs'
Adam settings (learning rate 0.001, betas 0.9/0.99, no weight decay). Ours: `nlp.update(batch,
sgd=optimizer)` with thinc's Adam as `configs/*.cfg` set it, spaCy tokenization, alignment and
the gold IOB2 tags included.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .timing import rates, ratio_table

LABELS = ("PER", "LOC", "ORG")


def annotated_texts(texts: Sequence[str], seed: int = 0) -> List[Dict[str, Any]]:
    """Each text with one-word entities on about a fifth of its words (offsets in characters)."""
    rng = random.Random(seed)
    records = []
    for text in texts:
        entities, start = [], 0
        for word in text.split(" "):
            if rng.random() < 0.2:
                entities.append((start, start + len(word), rng.choice(LABELS)))
            start += len(word) + 1
        records.append({"text": text, "entities": entities})
    return records


def optimizer_from_configs() -> Any:
    """thinc's Adam with the settings of the shipped configs' [training.optimizer]."""
    from thinc.api import Adam

    return Adam(
        learn_rate=0.001,
        beta1=0.9,
        beta2=0.99,
        eps=1e-8,
        L2=0.0,
        L2_is_weight_decay=True,
        grad_clip=1.0,
        use_averages=False,
    )


def ours(
    model_dir: str,
    records: Sequence[Dict[str, Any]],
    repetitions: int,
    quantization: Optional[str] = None,
    compute_dtype: str = "auto",
) -> Callable[[Sequence[int]], float]:
    """A `repsl_tagger` pipeline (LoRA; on the GPU when thinc's ops are, as under `spacy train
    --gpu-id`); returns a step over the records at given indices."""
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {
                "@architectures": "spacy-repsl.DecoderTagger.v1",
                "name": model_dir,
                "quantization": quantization,
                "compute_dtype": compute_dtype,
                "repetitions": repetitions,
            }
        },
    )
    examples = [Example.from_dict(nlp.make_doc(r["text"]), {"entities": r["entities"]}) for r in records]
    nlp.initialize(lambda: examples[:32])
    optimizer = optimizer_from_configs()

    def step(indices: Sequence[int]) -> float:
        batch = [Example(nlp.make_doc(records[i]["text"]), examples[i].reference) for i in indices]
        return nlp.update(batch, sgd=optimizer)["repsl_tagger"]

    return step


def hand_written(
    model_dir: str,
    records: Sequence[Dict[str, Any]],
    repetitions: int,
    quantization: Optional[str] = None,
    compute_dtype: str = "auto",
    device: str = "cpu",
) -> Callable[[Sequence[int]], float]:
    """The transformers + peft step described above (QLoRA the way peft's docs write it when
    `quantization` is set: bitsandbytes config, `prepare_model_for_kbit_training`, LoRA);
    returns a step over the records at given indices."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from ..decoder.lora import LoraSettings
    from ..decoder.precision import resolve_compute_dtype
    from ..decoder.quantization import disable_cpu_weight_packing, quantization_config

    names = ["O"] + [f"{p}-{label}" for label in LABELS for p in ("B", "I")]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dtype = resolve_compute_dtype(compute_dtype, torch.device(device))
    kwargs: Dict[str, Any] = dict(num_labels=len(names), attn_implementation="sdpa", dtype=dtype)
    if quantization is not None:
        kwargs["quantization_config"] = config = quantization_config(quantization, dtype)
        config.llm_int8_skip_modules = ["score"]  # the trained head stays a plain layer, as ours does
        if device != "cpu":
            kwargs["device_map"] = {"": torch.device(device).index or 0}
    model = AutoModelForTokenClassification.from_pretrained(model_dir, **kwargs)
    if quantization is not None:
        if device == "cpu":  # bitsandbytes' CPU repacking would break training (see quantization.py)
            disable_cpu_weight_packing(model)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model.to(device)
    lora = LoraSettings()
    model = get_peft_model(
        model,
        LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            modules_to_save=["score"],
        ),
    )
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=0.001, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0
    )
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def word_tags(record: Dict[str, Any]) -> List[int]:
        starts = {start: label for start, _, label in record["entities"]}
        tags, offset = [], 0
        for word in record["text"].split(" "):
            tags.append(names.index(f"B-{starts[offset]}") if offset in starts else 0)
            offset += len(word) + 1
        return tags

    def step(indices: Sequence[int]) -> float:
        texts = [records[i]["text"].split(" ") for i in indices]
        encoded = tokenizer(texts, is_split_into_words=True, add_special_tokens=False)
        rows, targets = [], []
        for k, i in enumerate(indices):
            ids, tags, seen = encoded["input_ids"][k], word_tags(records[i]), set()
            labels = []
            for word in encoded.word_ids(k):
                labels.append(tags[word] if word is not None and word not in seen else -100)
                seen.add(word)
            rows.append(bos + ids * (repetitions + 1))
            targets.append([-100] * (len(bos) + len(ids) * repetitions) + labels)
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
        labels = torch.tensor([t + [-100] * (width - len(t)) for t in targets], device=device)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    return step


def versus_hand_written(
    path: Path,
    texts: Sequence[str],
    rounds: int,
    batch_size: int = 32,
    quantization: Optional[str] = None,
    compute_dtype: str = "auto",
    device: str = "cpu",
) -> Dict[int, Dict[str, float]]:
    """Training words/s of ours and the hand-written step at r = 0 and 1: the same batches (in
    the same order) for both, one epoch per round, taking turns. On a GPU (`device`), thinc's
    ops must be on it already (`cells.use_device`)."""
    records = annotated_texts(texts)
    batches = [list(range(b, min(b + batch_size, len(records)))) for b in range(0, len(records), batch_size)]
    words = sum(len(t.split()) for t in texts)
    out: Dict[int, Dict[str, float]] = {}
    for r in (0, 1):
        steps = {
            "ours": ours(str(path), records, r, quantization, compute_dtype),
            "hand": hand_written(str(path), records, r, quantization, compute_dtype, device),
        }
        for step in steps.values():
            step(batches[0])  # warm-up
        times: Dict[str, List[float]] = {name: [] for name in steps}
        for i in range(rounds):
            for name in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
                start = time.perf_counter()
                for batch in batches:
                    steps[name](batch)
                times[name].append(time.perf_counter() - start)
        out[r] = rates(times, words)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    """`python -m spacy_repsl.benchmark.training_step`: the comparison above on its own, e.g.
    NF4 QLoRA on a GPU (`--gpu-id 0 --quantization nf4`); writes its section of BENCHMARKS.md."""
    import argparse

    from .cells import SHAPES, benchmark_model, texts_and_gold, use_device
    from .engines import where
    from .sections import write_section

    parser = argparse.ArgumentParser(prog="python -m spacy_repsl.benchmark.training_step", description=main.__doc__)
    parser.add_argument(
        "--model", default="", help="a local decoder directory (default: build a random one of --shape)"
    )
    parser.add_argument("--shape", default="mistral-scaled", choices=sorted(SHAPES))
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--quantization", default=None, choices=[None, "nf4", "int8"])
    parser.add_argument("--compute-dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"])
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if min(args.docs, args.batch_size, args.rounds) < 1:
        parser.error("--docs, --batch-size and --rounds must be at least 1")
    model = benchmark_model(args.model, args.shape)
    device = use_device({"gpu_id": args.gpu_id})
    texts = [text for text, _ in texts_and_gold(args.docs, 0)]
    result = versus_hand_written(
        model, texts, args.rounds, args.batch_size, args.quantization, args.compute_dtype, device
    )
    on = f"GPU {args.gpu_id}" if args.gpu_id >= 0 else "the CPU"
    text = "\n".join(
        [
            f"## Training step on {on}: ours vs transformers + peft",
            "",
            f"Measured with `python -m spacy_repsl.benchmark.training_step {' '.join(sys.argv[1:] if argv is None else argv)}`"
            f" on {where(args.gpu_id)}: model {args.model or args.shape}, quantization {args.quantization}, compute "
            f"dtype {args.compute_dtype}, {args.docs} texts in batches of {args.batch_size}, one epoch per round, "
            f"{args.rounds} rounds taking turns, fastest round each.",
            "",
            *ratio_table(result, "transformers + peft step"),
        ]
    )
    write_section(args.output, f"training-step-{'gpu' if args.gpu_id >= 0 else 'cpu'}", text)
    print(text)


if __name__ == "__main__":
    main()
