"""The exported token classifier predicts what the pipeline predicts (plain transformers, no code of ours)."""

import numpy
import pytest
import spacy
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from spacy_repsl.export import ExportError, export, main, predict_exported
from spacy_repsl.models.decoder_tagger import get_runtime
from spacy_repsl.tokenization.pieces import tokenize_docs

from ..pipeline.helpers import TEXTS, make_nlp, ner_examples, probabilities, train

LORA = {"@misc": "spacy-repsl.lora.v1", "r": 4, "alpha": 8, "dropout": 0.0}
SETTINGS = [
    dict(repetitions=0),
    dict(repetitions=0, exit_layer=2, max_length=24),
    dict(repetitions=1, lora=LORA),
    dict(repetitions=2, bos="every", exit_layer=3, max_length=24, window_context=5),
    dict(repetitions=1, pooling="mean", lora=LORA, max_length=24),
]
# Natural text (punctuation glued to words, clitics, doubled spaces), and one text several windows
# long at max_length 24.
NATURAL = [
    "Paris.",
    "Isn't it John's?",
    "Mary  works for Acme Corp. in Berlin, (Germany)!",
    "",
    " ".join(["Mary works for Acme Corp in Berlin, and John Smith lives in Paris."] * 6),
]


def exported_probabilities(out, nlp, texts):
    """The recipe of the exported README: pieces per word, the input repeated as config.repsl says,
    logits of the last copy at each word's first piece (or the mean over its pieces)."""
    model = AutoModelForTokenClassification.from_pretrained(out).eval()
    repsl = model.config.repsl
    runtime = get_runtime(nlp.get_pipe("repsl_tagger").model)
    docs = [nlp.make_doc(t) for t in texts]
    result = []
    for doc, pieces in zip(docs, tokenize_docs(runtime.tokenizer, docs, runtime.placeholder_id)):
        if not len(doc):
            result.append(numpy.zeros((0, model.config.num_labels)))
            continue
        prefix, suffix = repsl["prefix_ids"], repsl["suffix_ids"]
        copies = repsl["repetitions"] + 1
        inputs = (prefix + pieces.ids) * copies if repsl["bos"] == "every" else prefix + pieces.ids * copies
        inputs += suffix
        start = len(inputs) - len(suffix) - len(pieces.ids)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([inputs])).logits[0, start:]
        if repsl["pooling"] == "first":
            rows = logits[[token[0] for token in pieces.token_pieces]]
        else:
            rows = torch.stack([logits[token].mean(0) for token in pieces.token_pieces])
        result.append(torch.softmax(rows, -1).numpy())
    return result


@pytest.mark.parametrize(
    "settings",
    SETTINGS,
    ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items() if k != "lora") + (",lora" if "lora" in s else ""),
)
@pytest.mark.parametrize("family", ["llama", "qwen3", "mistral", "gemma", "gemma2", "phi3", "smollm3"])
def test_the_exported_model_gives_the_pipelines_probabilities(tiny_decoders, tmp_path, family, settings):
    config = export_trained(make_nlp(tiny_decoders[family], **settings), tmp_path)
    assert config.num_hidden_layers == settings.get("exit_layer", 4)
    assert config.id2label[1] == "B-LOC" and (tmp_path / "exported" / "README.md").is_file()


def export_trained(nlp, tmp_path):
    """Train `nlp` 3 steps, save and export it; assert the export's probabilities equal the
    pipeline's (1e-5) on the test texts; the exported config."""
    train(nlp, ner_examples(nlp), steps=3)
    nlp.to_disk(tmp_path / "pipeline")
    out = export(tmp_path / "pipeline", tmp_path / "exported")
    texts = TEXTS + ["Mary works for Acme Corp in Berlin ."]
    if nlp.get_pipe("repsl_tagger").model.attrs["max_length"] >= 256:  # the plain recipe: one window
        for a, b in zip(probabilities(nlp, texts), exported_probabilities(out, nlp, texts)):
            numpy.testing.assert_allclose(b, a, atol=1e-5)
    model = AutoModelForTokenClassification.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    docs = [spacy.blank(model.config.repsl["lang"]).make_doc(t) for t in texts + NATURAL]
    found = predict_exported(model, tokenizer, docs)
    assert [len(p) for p in found] == [len(d) for d in docs]
    for a, b in zip(probabilities(nlp, texts + NATURAL), found):
        numpy.testing.assert_allclose(b, a, atol=1e-5)
    return model.config


@pytest.mark.parametrize(
    "family,settings,match",
    [
        ("gemma", dict(unmask="full"), "unmask='full' cannot be exported"),
        ("llama", dict(unmask="middle"), "unmask='middle' cannot be exported"),
        ("llama", dict(repetitions=1, positions="restart"), "positions='restart' cannot be exported"),
        ("lfm2", dict(repetitions=1), "no token-classification class for model_type 'lfm2'"),
    ],
)
def test_what_no_stock_class_runs_exactly_is_refused(tiny_decoders, tmp_path, family, settings, match):
    nlp = make_nlp(tiny_decoders[family], **settings)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "pipeline")
    with pytest.raises(ExportError, match=match):
        export(tmp_path / "pipeline", tmp_path / "exported")
    assert not (tmp_path / "exported").exists()
    assert main([str(tmp_path / "pipeline"), str(tmp_path / "exported")]) == 1


def umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_cli_writes_a_folder_and_will_not_overwrite_one(tiny_decoders, tmp_path, capsys):
    nlp = make_nlp(tiny_decoders["qwen3"], repetitions=1)
    train(nlp, ner_examples(nlp), steps=1)
    spacy_dir = tmp_path / "pipeline"
    nlp.to_disk(spacy_dir)
    (tmp_path / ".out.bak").mkdir()  # a user's own folder beside the output is never removed
    assert main([str(spacy_dir), str(tmp_path / "out")]) == 0
    assert "AutoModelForTokenClassification" in capsys.readouterr().out
    assert (tmp_path / ".out.bak").is_dir()
    # the modes the umask gives (readable by others under 022): safetensors writes 0600 on its own
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "out").iterdir()} == {oct(0o666 & ~umask())}
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "window_context = 64 pieces" in readme and "window_context = None" not in readme  # 256 // 4
    assert main([str(spacy_dir), str(tmp_path / "out")]) == 1
    assert "not an empty folder" in capsys.readouterr().err
    assert spacy.load(spacy_dir)  # the pipeline itself is untouched
    (tmp_path / "real").mkdir()  # a symlink to an empty folder: written into the folder, the link kept
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert main([str(spacy_dir), str(tmp_path / "link")]) == 0
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "config.json").is_file()


def test_a_calibrated_temperature_is_folded_into_the_classifier(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["llama"], repetitions=1)
    train(nlp, ner_examples(nlp), steps=3)
    nlp.get_pipe("repsl_tagger").cfg["temperature"] = 0.3
    nlp.to_disk(tmp_path / "pipeline")
    out = export(tmp_path / "pipeline", tmp_path / "exported")
    for a, b in zip(probabilities(nlp, TEXTS), exported_probabilities(out, nlp, TEXTS)):
        numpy.testing.assert_allclose(b, a, atol=1e-5)


def test_a_moved_base_is_named_on_the_command_line(tiny_decoders, tmp_path, capsys):
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_decoders["qwen3"], base)
    nlp = make_nlp(base, repetitions=0)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "pipeline")
    base.rename(tmp_path / "moved")
    assert main([str(tmp_path / "pipeline"), str(tmp_path / "out")]) == 1
    assert "--base NEW/PATH" in capsys.readouterr().err
    assert main([str(tmp_path / "pipeline"), str(tmp_path / "out"), "--base", str(tmp_path / "moved")]) == 0
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        export(tmp_path / "pipeline", tmp_path / "a-file", base=str(tmp_path / "moved"))


R0 = dict(repetitions=0)
EXIT = dict(repetitions=0, exit_layer=2)
MEAN_LORA = dict(repetitions=0, pooling="mean", lora=LORA)
# Every exportable family plainly; exit and mean pooling with LoRA on one of each tokenizer kind.
ENCODER_CASES = [(f, R0) for f in ("bert", "roberta", "xlm-roberta", "deberta-v2", "electra", "mpnet")] + [
    (f, s) for f in ("bert", "roberta", "deberta-v2") for s in (EXIT, MEAN_LORA)
]


@pytest.mark.parametrize(
    "family,settings",
    ENCODER_CASES,
    ids=[f"{f}-{'exit2' if s is EXIT else 'mean,lora' if s is MEAN_LORA else 'r0'}" for f, s in ENCODER_CASES],
)
def test_an_exported_encoder_gives_the_pipelines_probabilities(tiny_encoders, tmp_path, family, settings):
    config = export_trained(make_nlp(tiny_encoders[family], **settings), tmp_path)
    assert config.num_hidden_layers == settings.get("exit_layer", 4)
    assert config.repsl["prefix_ids"] and config.repsl["suffix_ids"]  # [CLS] ... [SEP] or <s> ... </s>


def test_modernberts_own_prediction_head_is_refused(tiny_encoders, tmp_path):
    nlp = make_nlp(tiny_encoders["modernbert"], repetitions=0)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "pipeline")
    with pytest.raises(ExportError, match="applies head between the base model and its classifier"):
        export(tmp_path / "pipeline", tmp_path / "exported")
    assert not (tmp_path / "exported").exists()
