import pickle

import pytest
import torch

from spacy_repsl.decoder.read_rows import FEED_FORWARD, worth_pruning

from .helpers import LONG, SENTENCE, TINY_FAMILIES, can_run, ids_of, make

SETTINGS = [dict(repetitions=0), dict(repetitions=1), dict(repetitions=2, unmask="middle"),
            dict(repetitions=1, unmask="full", exit_layer=2), dict(repetitions=0, unmask="full")]


def rows_seen(decoder):
    """Row counts the last layer's position-wise block (or, without one, its layer) is given, per call."""
    seen = []
    last = decoder.backbone.layers[-1]
    block = next((getattr(last, n) for n in FEED_FORWARD if hasattr(last, n)), last)
    handle = block.register_forward_hook(lambda m, a, o: seen.append(a[0].numel() // a[0].shape[-1]))
    return seen, handle


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_reading_rows_gives_the_full_forward_states(tiny_decoders, family, settings):
    if not can_run(family, settings):
        pytest.skip(f"{family} cannot run {settings} (refusal tested in test_encoder)")
    decoder, tokenizer = make(tiny_decoders[family], **settings)
    sequences = [ids_of(tokenizer, SENTENCE), ids_of(tokenizer, LONG)[:5], ids_of(tokenizer, LONG)]
    windows = [0, 0, 1, 2, 2, 2, 0]
    positions = [0, 3, 4, 0, 7, len(sequences[2]) - 1, len(sequences[0]) - 1]
    seen, handle = rows_seen(decoder)
    with torch.inference_mode():
        pruned = decoder.read(sequences, windows, positions)
        full = decoder(sequences).hidden
    handle.remove()
    expected = torch.stack([full[w, p] for w, p in zip(windows, positions)])
    torch.testing.assert_close(pruned, expected, rtol=1e-5, atol=1e-5)
    if family == "mamba2":  # no position-wise block: every row is computed
        assert seen[0] == seen[1]
    else:
        assert seen[0] == len(windows) < seen[1]  # the pruned pass computed only the read rows


def test_training_computes_every_row_and_gradients_flow(tiny_decoders):
    decoder, tokenizer = make(tiny_decoders["llama"], repetitions=1)
    decoder.train()
    sequences = [ids_of(tokenizer, SENTENCE)]
    seen, handle = rows_seen(decoder)
    states = decoder.read(sequences, [0, 0], [0, 2])
    handle.remove()
    states.sum().backward()
    assert seen == [len(decoder.repeat(sequences[0]))]
    assert decoder.backbone.layers[-1].mlp.down_proj.weight.grad.abs().sum() > 0


def test_rows_are_forgotten_after_a_failed_pass(tiny_decoders):
    decoder, tokenizer = make(tiny_decoders["qwen3"], repetitions=1)
    vocab = decoder.backbone.get_input_embeddings().num_embeddings
    with torch.inference_mode(), pytest.raises(IndexError):
        decoder.read([[1, vocab + 5, 2, 3]], [0, 0], [0, 1])  # fails inside the forward, rows set
    assert decoder.read_rows.rows is None
    with torch.inference_mode():
        seen, handle = rows_seen(decoder)
        decoder([ids_of(tokenizer, SENTENCE)])
        handle.remove()
    assert seen == [len(decoder.repeat(ids_of(tokenizer, SENTENCE)))]


def test_a_decoder_with_the_hooks_pickles(tiny_decoders):
    decoder, tokenizer = make(tiny_decoders["gemma2"], repetitions=1)
    copy = pickle.loads(pickle.dumps(decoder))
    ids = ids_of(tokenizer, SENTENCE)
    with torch.inference_mode():
        torch.testing.assert_close(copy.read([ids], [0], [1]), decoder.read([ids], [0], [1]))


def test_pruning_only_pays_when_enough_rows_are_skipped():
    with torch.no_grad():
        assert worth_pruning(50, 100) and not worth_pruning(95, 100)
    assert not worth_pruning(1, 100)  # gradients enabled: training keeps every row
