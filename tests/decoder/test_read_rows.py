import pickle

import pytest
import torch

from spacy_repsl.decoder.read_rows import FEED_FORWARD, worth_pruning

from .helpers import LONG, SENTENCE, TINY_FAMILIES, can_run, ids_of, make

SETTINGS = [
    dict(repetitions=0),
    dict(repetitions=1),
    dict(repetitions=2, unmask="middle"),
    dict(repetitions=1, unmask="full", exit_layer=2),
    dict(repetitions=0, unmask="full"),
]


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


@pytest.mark.parametrize("checkpointing", [False, True])
def test_training_prunes_unless_layers_are_checkpointed_and_gradients_flow(tiny_decoders, checkpointing):
    decoder, tokenizer = make(tiny_decoders["llama"], repetitions=1, gradient_checkpointing=checkpointing)
    decoder.train()
    sequences = [ids_of(tokenizer, SENTENCE)]
    seen, handle = rows_seen(decoder)
    states = decoder.read(sequences, [0, 0], [0, 2])
    states.sum().backward()
    handle.remove()
    assert seen[0] == (len(decoder.repeat(sequences[0])) if checkpointing else 2)
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
    assert not worth_pruning(1, 100)  # gradients enabled: only where training may prune
    assert worth_pruning(1, 100, in_training=True)


@pytest.mark.parametrize("name,repetitions", [("llama", 1), ("gemma2", 0)])
def test_training_on_the_read_rows_gives_the_same_loss_and_gradients(tiny_decoders, name, repetitions):
    decoder, tokenizer = make(tiny_decoders[name], repetitions=repetitions)
    ids = [ids_of(tokenizer, SENTENCE), ids_of(tokenizer, "Paris .")]
    trainable = [p for p in decoder.parameters() if p.is_floating_point()]
    for p in trainable:
        p.requires_grad_(True)
    results = {}
    for prune in (True, False):
        seen, handle = rows_seen(decoder)
        out = decoder.read(ids, [0, 0, 1], [0, 2, 1], prune=prune)
        handle.remove()
        loss = (out * torch.linspace(-1, 1, out.shape[1])).sum()
        grads = torch.autograd.grad(loss, trainable, allow_unused=True)
        results[prune] = (loss.detach(), grads, seen)
    assert results[True][2] == [3] and results[False][2][0] > 3  # the last MLP saw only the read rows
    torch.testing.assert_close(results[True][0], results[False][0])
    for a, b in zip(results[True][1], results[False][1]):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
