"""The fingerprint of a base model and the differences that refuse a saved pipeline (pure)."""

import json

from spacy_repsl.pipeline.fingerprint import base_fingerprint, file_digest, fingerprint_differences, method_differences


def checkpoint(path, model_type="llama", weights=b"w" * 10):
    path.mkdir()
    (path / "config.json").write_text(
        json.dumps(
            {"model_type": model_type, "hidden_size": 8, "_name_or_path": str(path), "transformers_version": "5.0"}
        )
    )
    (path / "model.safetensors").write_bytes(weights)
    return path


def test_load_time_keys_do_not_count_and_weights_do(tmp_path):
    a = base_fingerprint(checkpoint(tmp_path / "a"))
    assert fingerprint_differences(a, base_fingerprint(checkpoint(tmp_path / "b"))) == []  # only the path differs
    assert fingerprint_differences(a, base_fingerprint(checkpoint(tmp_path / "c", weights=b"v" * 10))) == [
        "the weights differ (model.safetensors)"
    ]
    assert (
        "model type 'llama' when saved, 'qwen3' now"
        in fingerprint_differences(a, base_fingerprint(checkpoint(tmp_path / "d", model_type="qwen3")))[0]
    )


def test_file_digest_samples_the_start_middle_and_end(tmp_path):
    big = tmp_path / "big"
    data = bytearray(b"\0" * (5 << 20))
    big.write_bytes(bytes(data))
    before = file_digest(big)
    data[len(data) // 2] = 1  # the middle chunk
    big.write_bytes(bytes(data))
    assert file_digest(big)["sampled_sha256"] != before["sampled_sha256"] and file_digest(big)["size"] == 5 << 20


def test_method_differences_by_setting():
    saved = {"repetitions": 1, "bos": "once", "pooling": "first"}
    assert method_differences(saved, {"repetitions": 2, "bos": "once", "pooling": "first"}) == {
        "repetitions": "repetitions = 1 when trained, 2 now"
    }
    assert method_differences({}, {"repetitions": 2}) == {}  # saved before settings were recorded
