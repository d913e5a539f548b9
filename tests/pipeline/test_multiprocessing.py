"""nlp.pipe(n_process=2) gives the n_process=1 annotations, with fork (also after inference in
the parent, which used to hang forever) and with spawn (which used to fail to pickle)."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys

    def main(decoder, method):
        import multiprocessing

        import spacy
        from spacy.training import Example
        from thinc.api import fix_random_seed

        fix_random_seed(0)
        nlp = spacy.blank("en")
        nlp.add_pipe("repsl_tagger", config={"model": {"@architectures": "spacy-repsl.DecoderTagger.v1",
            "name": decoder, "quantization": None, "max_length": 32,
            "lora": {"@misc": "spacy-repsl.lora.v1", "r": 4}}})
        examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in [
            ("John Smith lives in Paris .", [(0, 10, "PER"), (20, 25, "LOC")]),
            ("Mary works for Acme Corp in Berlin .", [(0, 4, "PER"), (15, 24, "ORG"), (28, 34, "LOC")])]]
        optimizer = nlp.initialize(lambda: examples)
        for _ in range(3):
            nlp.update(examples, sgd=optimizer)
        texts = [f"Mary {i} met John in Berlin and Paris ." for i in range(24)]
        ents = lambda docs: [[(e.start, e.end, e.label_) for e in d.ents] for d in docs]
        one = ents(nlp.pipe(texts, batch_size=5))  # inference in the parent before forking
        multiprocessing.set_start_method(method, force=True)
        two = ents(nlp.pipe(texts, batch_size=5, n_process=2))
        assert one == two, (one, two)
        print("same annotations", sum(map(len, one)))

    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2])
""")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_n_process_2_gives_the_same_annotations(tiny_decoders, tmp_path, method):
    script = tmp_path / "pipe.py"
    script.write_text(SCRIPT)
    try:
        result = subprocess.run(
            [sys.executable, str(script), str(tiny_decoders["llama"]), method],
            capture_output=True,
            text=True,
            timeout=240,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"nlp.pipe(n_process=2) with {method} hung")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "same annotations" in result.stdout
