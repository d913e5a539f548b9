"""The benchmark's random decoders: shapes whose default grid fits, rebuilt when the shape changes."""

import json

from spacy_repsl.benchmark.__main__ import parse_args
from spacy_repsl.benchmark.cells import SHAPES, build_default_model


def test_the_default_grid_fits_every_shapes_positions():
    # `spacy project run all` stopped here once: r = 8 on 256-token docs needs 9 * (256 + 1 BOS) positions.
    args = parse_args([])
    needed = (max(int(r) for r in args.repetitions.split(",")) + 1) * (args.max_length + 1)
    for name, spec in SHAPES.items():
        assert needed <= spec["max_positions"], name


def test_a_folder_of_another_shape_is_built_again(tmp_path, monkeypatch):
    shape = dict(family="llama", num_layers=2, hidden_size=32, num_heads=2, num_kv_heads=1, max_positions=64)
    monkeypatch.setitem(SHAPES, "test-shape", shape)
    path = build_default_model(tmp_path / "model", "test-shape")
    assert json.loads((path / "config.json").read_text())["max_position_embeddings"] == 64
    stamp = (path / "config.json").stat().st_mtime_ns
    assert build_default_model(path, "test-shape") == path and (path / "config.json").stat().st_mtime_ns == stamp
    monkeypatch.setitem(SHAPES, "test-shape", dict(shape, max_positions=128))
    build_default_model(path, "test-shape")
    assert json.loads((path / "config.json").read_text())["max_position_embeddings"] == 128
    (path / "benchmark-shape.json").unlink()  # a folder from before the marker existed
    build_default_model(path, "test-shape")
    assert (path / "benchmark-shape.json").is_file()
