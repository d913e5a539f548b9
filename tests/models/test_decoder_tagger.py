import pytest

from spacy_repsl.models.decoder_tagger import build_decoder_tagger_v1, sub_batches


def test_sub_batches_sort_by_length_and_cap_padding():
    sizes = [5, 1, 9, 3, 9, 2]
    groups = sub_batches(sizes, max_length=16, max_tokens=12)
    assert sorted(i for g in groups for i in g) == list(range(6))
    for group in groups:
        widest = max(sizes[i] for i in group)
        assert len(group) == 1 or len(group) * widest <= 12
    flat = [sizes[i] for g in groups for i in g]
    assert flat == sorted(flat)


def test_long_docs_count_their_windows():
    assert sub_batches([100, 100], max_length=10, max_tokens=100) == [[0], [1]]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(pooling="max"), "'first'.*'mean'"),
        (dict(max_length=0), "at least 1"),
        (dict(max_length=8, window_context=4), "below half"),
        (dict(head_dropout=1.5), "head_dropout"),
        (dict(max_batch_tokens=10), "max_batch_tokens"),
        (dict(exit_layer=0), "exit_layer"),
    ],
)
def test_bad_architecture_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_decoder_tagger_v1(name="some/model", **kwargs)
