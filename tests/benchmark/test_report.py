import pytest

from spacy_repsl.benchmark.__main__ import main
from spacy_repsl.benchmark.report import report

INFO = {
    "machine": {
        "device": "CPU",
        "processor": "x86_64",
        "cpus": 2,
        "torch_threads": 2,
        "platform": "Linux",
        "python": "3.11",
        "torch": "2.13.0",
        "transformers": "5",
        "peft": "0.21",
        "spacy": "3.8",
    },
    "model": "test",
    "settings": {"docs": 8, "batch_size": 4, "repeats": 1},
}


def cell(r, layer, wps, flops, model_bytes, hf=None):
    result = {
        "repetitions": r,
        "exit_layer": layer,
        "layers": 4,
        "infer_wps": wps,
        "train_wps": 1.0,
        "flops": flops,
        "model_bytes": model_bytes,
        "embedding_bytes": 100,
        "peak_rss_bytes": 2**20,
    }
    if hf is not None:
        result["hf_wps"] = hf
    return result


def test_report_computes_ratios_against_the_reference_cell():
    cells = [cell(0, 4, 100.0, 1000, 500, hf=105.0), cell(0, 2, 190.0, 500, 300), cell(1, 4, 40.0, 2000, 500)]
    text = report(cells, INFO, "python -m spacy_repsl.benchmark")
    assert "100 vs 105 words/s = **0.95x**" in text
    assert cells[1]["speedup"] == pytest.approx(1.9) and cells[1]["ideal_speedup"] == pytest.approx(2.0)
    # r = 1 reaches 0.40 against an ideal 0.50: 0.80 of it, below the 0.85 target
    assert cells[2]["efficiency"] == pytest.approx(0.8)
    assert "**0.80** at r = 1, L = 4" in text and "Not met in 1 of 3 cells." in text
    assert "largest deviation **0.0%**" in text  # 100 + 400 * 2/4 = 300


def test_paired_cells_take_their_speed_up_from_their_own_reference_run():
    paired = dict(cell(0, 2, 150.0, 500, 300), reference_wps=75.0)  # a slow spell hit both
    cells = [cell(0, 4, 100.0, 1000, 500, hf=100.0), paired]
    report(cells, INFO, "cmd")
    assert paired["speedup"] == pytest.approx(2.0) and paired["efficiency"] == pytest.approx(1.0)


def test_bad_grid_is_refused_before_measuring(tiny_decoders, capsys):
    with pytest.raises(SystemExit):
        main(["--model", str(tiny_decoders["mistral"]), "--exit-layers", "99"])
    assert "exit layers must be in 1.." in capsys.readouterr().err


def test_a_gpu_run_reports_its_peak_gpu_memory_for_training_and_inference():
    cells = [dict(cell(0, 4, 100.0, 1000, 500, hf=100.0), peak_gpu_train_bytes=3 * 2**20, peak_gpu_infer_bytes=2**20)]
    text = report(cells, INFO, "cmd")
    assert text.startswith("# Benchmarks on the GPU")
    assert "peak GPU MB, training | peak GPU MB, inference |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 0 | 4 |"))
    assert row.endswith("| 1 | 3 | 1 |")  # peak RSS, then GPU peaks in training and in inference
    assert "peak GPU" not in report([cell(0, 4, 100.0, 1000, 500, hf=100.0)], INFO, "cmd")
