"""The training-step benchmark's two contenders train on the same batches (a tiny decoder)."""

import math

from spacy_repsl.benchmark.training_step import annotated_texts, hand_written, ours

TEXTS = ["John lives in Paris", "Acme Corp said today", "the people met in Berlin and Paris"] * 4


def test_annotated_entities_are_whole_words():
    for record in annotated_texts(TEXTS * 5):
        words = record["text"].split(" ")
        for start, end, label in record["entities"]:
            assert record["text"][start:end] in words and label in ("PER", "LOC", "ORG")
    assert any(record["entities"] for record in annotated_texts(TEXTS))


def test_both_steps_train_on_the_same_batches(tiny_decoders):
    records = annotated_texts(TEXTS)
    for r in (0, 1):
        for make in (ours, hand_written):
            step = make(str(tiny_decoders["llama"]), records, r)
            losses = [step(list(range(0, 6))) for _ in range(6)]
            assert all(math.isfinite(loss) for loss in losses)
            assert losses[-1] < losses[0], (make.__name__, r, losses)


def test_both_steps_train_a_4_bit_base(tiny_decoders):
    # The QLoRA step as peft's docs write it (NF4 base, prepare_model_for_kbit_training, LoRA),
    # with the head kept out of quantization, against ours; here on the CPU, on a GPU with --gpu-id.
    records = annotated_texts(TEXTS)
    for make in (ours, hand_written):
        step = make(str(tiny_decoders["llama"]), records, 1, quantization="nf4")
        losses = [step(list(range(0, 6))) for _ in range(6)]
        assert all(math.isfinite(loss) for loss in losses)
        assert losses[-1] < losses[0], (make.__name__, losses)
