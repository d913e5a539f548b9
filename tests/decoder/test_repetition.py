import pytest

from spacy_repsl.decoder.repetition import repeat_sequence


def test_single_copy_is_the_plain_input():
    rep = repeat_sequence([7, 8, 9], 1, bos_token_id=1)
    assert rep.input_ids == [1, 7, 8, 9]
    assert rep.position_ids == [0, 1, 2, 3]
    assert rep.last_copy_start == 1 and rep.length == 3


def test_bos_once_continuous():
    rep = repeat_sequence([7, 8], 3, bos_token_id=1)
    assert rep.input_ids == [1, 7, 8, 7, 8, 7, 8]
    assert rep.position_ids == list(range(7))
    assert rep.input_ids[rep.last_copy_start :] == [7, 8]


def test_bos_every_reproduces_the_reference():
    rep = repeat_sequence([7, 8], 2, bos_token_id=1, bos="every")
    assert rep.input_ids == [1, 7, 8, 1, 7, 8]
    assert rep.last_copy_start == 4


def test_restart_positions():
    once = repeat_sequence([7, 8], 2, bos_token_id=1, positions="restart")
    assert once.position_ids == [0, 1, 2, 1, 2]
    every = repeat_sequence([7, 8], 2, bos_token_id=1, bos="every", positions="restart")
    assert every.position_ids == [0, 1, 2, 0, 1, 2]
    plain = repeat_sequence([7, 8], 2, positions="restart")
    assert plain.position_ids == [0, 1, 0, 1]


def test_no_bos_model():
    rep = repeat_sequence([7, 8, 9], 2, bos_token_id=None, bos="every")
    assert rep.input_ids == [7, 8, 9, 7, 8, 9]
    assert rep.last_copy_start == 3


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(ids=[], copies=1), "empty sequence"),
        (dict(ids=[1], copies=0), "copies"),
        (dict(ids=[1], copies=1, bos="twice"), "bos mode"),
        (dict(ids=[1], copies=1, positions="random"), "positions mode"),
    ],
)
def test_bad_input_is_refused(kwargs, match):
    ids = kwargs.pop("ids")
    copies = kwargs.pop("copies")
    with pytest.raises(ValueError, match=match):
        repeat_sequence(ids, copies, **kwargs)
