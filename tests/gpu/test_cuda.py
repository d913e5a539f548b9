"""The CUDA path (issue 16): `pytest -m gpu` on a machine with a CUDA GPU.

Skipped, with the reason, where torch sees no CUDA device. `REPSL_TEST_DEVICE=cpu` runs the same
tests on the CPU (slowly, NF4 included) to check the tests themselves on a machine without a GPU;
the GPU results are the ones that count.

Tolerances: fp32 decoders must give the CPU's exactness (a causal output does not move at all
when a later token changes); 16-bit compute is compared with `HALF_TOLERANCE` (fp16 has a 10-bit
mantissa, bf16 a 7-bit one: differences of 1e-2 in probabilities are rounding, not a wrong mask).
"""

from __future__ import annotations

import os

import numpy
import pytest
import torch
from thinc.util import to_numpy

DEVICE = os.environ.get("REPSL_TEST_DEVICE", "cuda")
ON_CUDA = DEVICE.startswith("cuda")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        ON_CUDA and not torch.cuda.is_available(),
        reason="needs a CUDA GPU: torch sees none here (run `pytest -m gpu` on a machine with one)",
    ),
]

HALF_TOLERANCE = {"float16": 5e-3, "bfloat16": 3e-2}
from tests.decoder.helpers import FAMILY_ATTENTION, can_run  # noqa: E402 (every tiny family, as on the CPU)


@pytest.fixture
def gpu_ops():
    """thinc's ops on the GPU for one test (what `spacy train --gpu-id 0` sets), CPU again after."""
    import spacy

    if ON_CUDA:
        spacy.require_gpu(0)
    yield DEVICE
    if ON_CUDA:
        spacy.require_cpu()


# --- the decoder core on the device -------------------------------------------------------------


def _make(path, **settings):
    from tests.decoder.helpers import make

    return make(path, device=DEVICE, **settings)


@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_causal_outputs_ignore_the_right_context(tiny_decoders, family, attention):
    from tests.decoder.helpers import SENTENCE, ids_of, right_context_effect

    decoder, tokenizer = _make(tiny_decoders[family], attn_implementation=attention)
    assert decoder.device.type == torch.device(DEVICE).type
    ids = ids_of(tokenizer, SENTENCE)
    for query in range(len(ids) - 1):
        assert right_context_effect(decoder, ids, query, len(ids) - 1) == 0.0


ADAPTATIONS = [
    dict(repetitions=1),
    dict(repetitions=2),
    dict(unmask="full"),
    dict(unmask="middle"),
    dict(unmask="groups:0110"),
    dict(repetitions=1, exit_layer=2),
    dict(unmask="full", exit_layer=3),
]


@pytest.mark.parametrize("adaptation", ADAPTATIONS, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_repetition_unmasking_and_early_exit_use_the_right_context(tiny_decoders, family, attention, adaptation):
    from tests.decoder.helpers import SENTENCE, ids_of, right_context_effect

    if not can_run(family, adaptation):
        pytest.skip(f"{family} cannot run {adaptation} (refused on any device: tests/decoder/test_encoder.py)")
    decoder, tokenizer = _make(tiny_decoders[family], attn_implementation=attention, **adaptation)
    ids = ids_of(tokenizer, SENTENCE)
    assert right_context_effect(decoder, ids, 0, len(ids) - 1) > 1e-3


@pytest.mark.parametrize(
    "settings",
    [
        dict(),
        dict(repetitions=1),
        dict(unmask="middle", repetitions=1),
        dict(unmask="full"),
        dict(repetitions=2, exit_layer=3),
    ],
    ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "plain",
)
@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_fp32_outputs_do_not_depend_on_the_batch(tiny_decoders, family, attention, settings):
    from tests.decoder.helpers import LONG, SENTENCE, encode, ids_of

    if not can_run(family, settings):
        pytest.skip(f"{family} cannot run {settings} (refused on any device: tests/decoder/test_encoder.py)")
    decoder, tokenizer = _make(tiny_decoders[family], attn_implementation=attention, **settings)
    short = ids_of(tokenizer, "Paris is nice .")
    others = [ids_of(tokenizer, LONG), ids_of(tokenizer, SENTENCE)]
    (alone,) = encode(decoder, [short])
    for position in range(len(others) + 1):
        inside = encode(decoder, others[:position] + [short] + others[position:])[position]
        torch.testing.assert_close(inside, alone, atol=1e-5, rtol=0)


# --- NF4 QLoRA training on the device ------------------------------------------------------------


def _qlora_nlp(path, compute_dtype, **model):
    import spacy

    from tests.pipeline.helpers import make_nlp

    spacy.util.fix_random_seed(0)  # the head's initial weights, whatever ran before
    return make_nlp(
        path,
        quantization="nf4",
        compute_dtype=compute_dtype,
        lora={"@misc": "spacy-repsl.lora.v1", "r": 8, "alpha": 16, "dropout": 0.0},
        **model,
    )


def _trainables(nlp):
    module = nlp.get_pipe("repsl_tagger").model.attrs["runtime"].module
    return {name: p.float().cpu().clone() for name, p in module.trainable_state().items()}


@pytest.mark.parametrize("compute_dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("settings", [dict(repetitions=1), dict(repetitions=0, unmask="middle")], ids=["r1", "middle"])
def test_nf4_qlora_training_learns_and_reaches_every_adapter(tiny_decoders, gpu_ops, compute_dtype, settings):
    from tests.pipeline.helpers import ner_examples

    nlp = _qlora_nlp(tiny_decoders["llama"], compute_dtype, **settings)
    examples = ner_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    runtime = nlp.get_pipe("repsl_tagger").model.attrs["runtime"]
    assert runtime.module.decoder.device.type == torch.device(DEVICE).type
    before = _trainables(nlp)
    assert (
        any("lora_A" in n for n in before) and any("lora_B" in n for n in before) and any("head" in n for n in before)
    )
    losses = [nlp.update(examples, sgd=optimizer)["repsl_tagger"] for _ in range(40)]
    assert all(numpy.isfinite(losses)), losses
    assert losses[-1] < 0.5 * losses[0], losses
    after = _trainables(nlp)
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert not unchanged, f"no gradient reached {unchanged}"
    assert all(torch.isfinite(p).all() for p in after.values())


@pytest.mark.parametrize("compute_dtype", ["float16", "bfloat16"])
def test_nf4_labels_do_not_depend_on_the_batch(tiny_decoders, gpu_ops, compute_dtype):
    from tests.pipeline.helpers import TEXTS, ner_examples, probabilities, train

    nlp = _qlora_nlp(tiny_decoders["llama"], compute_dtype, repetitions=1)
    train(nlp, ner_examples(nlp), steps=10)
    together = probabilities(nlp, TEXTS)
    for text, batched in zip(TEXTS, together):
        (alone,) = probabilities(nlp, [text])
        numpy.testing.assert_allclose(to_numpy(batched), to_numpy(alone), atol=HALF_TOLERANCE[compute_dtype])


# --- saving and loading across devices -----------------------------------------------------------


def test_saved_on_the_gpu_loads_on_the_cpu_and_back_with_the_same_labels(tiny_decoders, tmp_path):
    import spacy

    from tests.pipeline.helpers import TEXTS, make_nlp, ner_examples, spans_of, train

    def labels(nlp):
        return [spans_of(doc) for doc in nlp.pipe(TEXTS)]

    if ON_CUDA:
        spacy.require_gpu(0)
    try:
        nlp = make_nlp(tiny_decoders["llama"], repetitions=1)
        train(nlp, ner_examples(nlp), steps=15)
        on_gpu = labels(nlp)
        nlp.to_disk(tmp_path / "from-gpu")
    finally:
        spacy.require_cpu()
    on_cpu = spacy.load(tmp_path / "from-gpu")
    assert on_cpu.get_pipe("repsl_tagger").model.attrs["runtime"].module.decoder.device.type == "cpu"
    assert labels(on_cpu) == on_gpu
    on_cpu.to_disk(tmp_path / "from-cpu")
    if ON_CUDA:
        spacy.require_gpu(0)
    try:
        back = spacy.load(tmp_path / "from-cpu")
        assert (
            back.get_pipe("repsl_tagger").model.attrs["runtime"].module.decoder.device.type == torch.device(DEVICE).type
        )
        assert labels(back) == on_gpu
    finally:
        spacy.require_cpu()


# --- spacy train --gpu-id 0 ----------------------------------------------------------------------

GPU_ARGS = ("--gpu-id", "0") if ON_CUDA else ()


def test_spacy_train_on_the_gpu_end_to_end(tiny_decoders, tmp_path):
    import spacy

    from tests.test_training import train_on_examples

    result = train_on_examples(
        "tiny.cfg",
        "decoder",
        tiny_decoders["llama"],
        tmp_path,
        *GPU_ARGS,
        "--training.max_epochs",
        "10",
        "--training.eval_frequency",
        "4",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if ON_CUDA:
        assert "Using GPU: 0" in result.stdout + result.stderr
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.meta["performance"]["ents_f"] > 0.5
    assert len(trained("John Smith lives in Paris .")) == 6


# --- encoder bases on the device (issue 34) -------------------------------------------------------


@pytest.mark.parametrize("family", ["bert", "roberta", "deberta-v2", "modernbert"])
def test_encoders_use_the_right_context_and_ignore_the_batch(tiny_encoders, family):
    from spacy_repsl.decoder.settings import DecoderSettings
    from spacy_repsl.models.base import build_base

    encoder, _ = build_base(DecoderSettings(name=str(tiny_encoders[family]), repetitions=0, lora=None, device=DEVICE))
    encoder.eval()
    assert encoder.device.type == torch.device(DEVICE).type
    short, long = [10, 11, 12], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
    with torch.no_grad():
        alone = encoder([short]).hidden[0]
        torch.testing.assert_close(encoder([long, short]).hidden[1, :3], alone, atol=1e-5, rtol=0)
        assert float((encoder([[10, 11, 40]]).hidden[0, :2] - alone[:2]).abs().max()) > 1e-3


def test_the_encoder_config_trains_on_the_gpu(tiny_encoders, tmp_path):
    import spacy

    from tests.test_training import ENCODER_OVERRIDES, train_on_examples

    result = train_on_examples("encoder.cfg", "encoder", tiny_encoders["bert"], tmp_path, *GPU_ARGS, *ENCODER_OVERRIDES)
    assert result.returncode == 0, result.stdout + result.stderr
    if ON_CUDA:
        assert "Using GPU: 0" in result.stdout + result.stderr
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.meta["performance"]["ents_f"] > 0.5


# --- the shared decoder (issue 36) on the device ----------------------------------------------------


@pytest.mark.parametrize("compute_dtype", ["float32", "bfloat16"])
def test_shared_decoder_feeds_its_listeners_on_the_device(tiny_decoders, gpu_ops, compute_dtype):
    """repsl_decoder with ner and tagger listening: one pass per update and per predicted batch,
    the decoder on the device, heads that learn, labels that do not depend on the batch."""
    from tests.pipeline.helpers import TEXTS
    from tests.pipeline.test_shared_decoder import annotations, count_decoder_passes, examples, shared_nlp

    lora = None if compute_dtype == "float32" else {"@misc": "spacy-repsl.lora.v1", "r": 8, "alpha": 8, "dropout": 0.0}
    nlp = shared_nlp(
        tiny_decoders["llama"], components=("ner", "tagger"), repetitions=1, compute_dtype=compute_dtype, lora=lora
    )
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    module = nlp.get_pipe("repsl_decoder").model.attrs["runtime"].module
    assert module.decoder.device.type == torch.device(DEVICE).type
    calls = count_decoder_passes(nlp)
    losses = [nlp.update(egs, sgd=optimizer)["tagger"] for _ in range(15)]
    assert calls[0] == 15 and losses[-1] < losses[0], losses
    texts = [text for text in TEXTS if text]
    calls[0] = 0
    together = list(nlp.pipe(texts, batch_size=len(texts)))
    assert calls[0] == 1
    alone = [next(nlp.pipe([text])) for text in texts]
    if compute_dtype == "float32":
        assert annotations(together) == annotations(alone)
    for x, y in zip(together, alone):
        numpy.testing.assert_allclose(
            to_numpy(x._.repsl_vectors["repsl_decoder"]),
            to_numpy(y._.repsl_vectors["repsl_decoder"]),
            atol=1e-5 if compute_dtype == "float32" else 0.1,
        )
