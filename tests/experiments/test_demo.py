"""The demo, reduced: r = 0 must lose on right-context labels, and the numbers must repeat."""

import pytest

from spacy_repsl.experiments.demo import LEFT_CUES, RIGHT_CUES, generate_corpus, run_demo


def test_generated_labels_depend_on_the_neighbouring_cue():
    for text, entities in generate_corpus(50, seed=3):
        words = text.split()
        starts = {len(" ".join(words[:i])) + (1 if i else 0): i for i in range(len(words))}
        for start, end, label in entities:
            first = starts[start]
            last = first + len(text[start:end].split()) - 1
            if label in RIGHT_CUES.values():
                assert RIGHT_CUES[words[last + 1]] == label
            else:
                assert LEFT_CUES[words[first - 1]] == label


@pytest.mark.slow
def test_reduced_demo_shows_the_gap_and_repeats(tmp_path):
    kwargs = dict(n_train=600, n_test=100, epochs=6, seed=0, decoder_dir=tmp_path / "decoder")
    results = run_demo(tmp_path / "a", settings=["r0", "r1", "full"], **kwargs)
    r0, r1, full = results["r0"], results["r1"], results["full"]
    assert r1["f1_right"] > r0["f1_right"] + 0.3
    assert full["f1_right"] > r0["f1_right"] + 0.3
    assert abs(r1["f1_left"] - r0["f1_left"]) < 0.15 and abs(full["f1_left"] - r0["f1_left"]) < 0.15
    for name in ("demo.md", "demo.json", "demo.png"):
        assert (tmp_path / "a" / name).is_file()
    # Fixed seeds: the same numbers twice (a shorter run is enough to show it).
    short = dict(kwargs, n_train=100, epochs=1, settings=["r1"])
    first, second = run_demo(tmp_path / "c", **short), run_demo(tmp_path / "d", **short)
    assert [first["r1"][k] for k in ("f1", "f1_right", "f1_left")] == [
        second["r1"][k] for k in ("f1", "f1_right", "f1_left")
    ]
