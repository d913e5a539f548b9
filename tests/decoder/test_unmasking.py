import pytest

from spacy_repsl.decoder.unmasking import (
    UnmaskSpecError,
    group_bounds,
    middle_band,
    parse_unmask,
)


@pytest.mark.parametrize(
    "num_layers,first,last",
    [(26, 8, 17), (28, 9, 18), (32, 10, 21), (36, 11, 24), (42, 13, 28)],
)
def test_middle_band_matches_paper(num_layers, first, last):
    assert list(middle_band(num_layers)) == list(range(first, last + 1))
    assert parse_unmask("middle").layers(num_layers) == frozenset(range(first, last + 1))


@pytest.mark.parametrize("num_layers", range(1, 50))
def test_middle_band_is_inside_the_model_and_not_empty(num_layers):
    band = list(middle_band(num_layers))
    assert band and 0 <= band[0] <= band[-1] < num_layers


def test_none_and_full():
    assert parse_unmask("none").layers(8) == frozenset()
    assert parse_unmask(None).layers(8) == frozenset()
    assert parse_unmask(" FULL ").layers(8) == frozenset(range(8))


def test_groups_are_bottom_first():
    # The paper's 32-layer model with m = 4: bit 0 is layers 0..7.
    assert parse_unmask("groups:1000").layers(32) == frozenset(range(0, 8))
    assert parse_unmask("groups:0001").layers(32) == frozenset(range(24, 32))
    assert parse_unmask("groups:0110").layers(32) == frozenset(range(8, 24))
    assert parse_unmask("groups:0000").layers(32) == frozenset()


def test_group_bounds_cover_every_layer_once_when_uneven():
    bounds = group_bounds(4, 26)
    assert [len(b) for b in bounds] == [7, 7, 6, 6]
    assert [i for b in bounds for i in b] == list(range(26))


def test_more_groups_than_layers_is_refused():
    with pytest.raises(UnmaskSpecError, match="at most 4 bits"):
        parse_unmask("groups:10101").layers(4)


def test_layer_lists():
    assert parse_unmask("layers:5, 1,1").layers(8) == frozenset({1, 5})
    assert parse_unmask([3, 0]).layers(8) == frozenset({0, 3})
    assert str(parse_unmask("layers:5,1")) == "layers:1,5"
    with pytest.raises(UnmaskSpecError, match=r"names layer\(s\) \[9\].*0\.\.7"):
        parse_unmask("layers:1,9").layers(8)


@pytest.mark.parametrize(
    "bad", ["", "half", "groups:", "groups:012", "layers:", "layers:a,b", "layers:-1", "middle:3", ["x"], 3.5]
)
def test_invalid_specs_show_the_valid_forms(bad):
    with pytest.raises(UnmaskSpecError) as info:
        parse_unmask(bad)
    message = str(info.value)
    for form in ('"none"', '"full"', '"middle"', '"groups:<bits>"', '"layers:<i,j,...>"'):
        assert form in message
