"""Smoke tests of benchmarks/training.py: the real script, tiny settings."""

import importlib.util
import os
import re
import subprocess
import sys

import keras
import pytest

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "benchmarks",
    "training.py",
)


def _run_benchmark(name, *args, timeout):
    """Runs benchmarks/<name> with `args` on TensorFlow; returns it, finished."""
    script = os.path.join(os.path.dirname(SCRIPT), name)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow worker: run it once, under tensorflow",
)
def test_training_benchmark_quick_prints_ratio_and_step_rows():
    done = _run_benchmark(
        "training.py", "--quick", "--backends", "tensorflow", timeout=300
    )
    out = done.stdout
    ratio = re.search(
        r"^Overhead ratio \(tensorflow\): (\d+\.\d+)x  (PASS|over)", out, re.M
    )
    assert ratio, out
    assert 0.2 < float(ratio.group(1)) < 5.0, out
    # One step-time row per workload, with positive ms/step and samples/s.
    for model in ("mlp", "lenet5"):
        row = re.search(
            rf"^tensorflow +{model} \(\w+\) +(\d+) +(\d+\.\d+) +(\d+) ", out, re.M
        )
        assert row, out
        params, ms_per_step, samples_per_s = row.groups()
        assert int(params) > 10_000
        assert float(ms_per_step) > 0 and int(samples_per_s) > 0
    # Quick settings really are used (512 samples, batch 32 -> 16 steps).
    assert "(512 samples)" in out
    assert re.search(r"^tensorflow +mlp .* 16$", out, re.M), out


def test_training_benchmark_reports_missing_backend(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("benchmark_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(module._BACKEND_PACKAGES, "jax", "kerasdl_no_such_package")
    started = []
    monkeypatch.setattr(module.subprocess, "run", lambda *a, **k: started.append(a))

    assert module.main(["--backends", "jax", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert started == []  # no worker for a backend that is not installed
    assert "Overhead ratio (jax): not installed" in out
    for model in ("mlp", "lenet5"):
        assert re.search(rf"^jax +{model} +not installed", out, re.M), out


@pytest.mark.slow
def test_compression_benchmark_quick_prints_figures_and_verdicts():
    done = _run_benchmark("compression.py", "--quick", timeout=600)
    out = done.stdout
    figures = {
        name: re.search(pattern + r".*  (PASS|FAIL)$", out, re.M)
        for name, pattern in {
            "int8_size": r"^int8 vs float TFLite size: (\d+\.\d+)x",
            "int8_drop": r"^int8 accuracy drop: (-?\d+\.\d+) points",
            "sparse_gzip": r"^80%-sparse int8 vs float TFLite, gzipped: (\d+\.\d+)x",
            "sparse_drop": r"^80%-sparse int8 accuracy drop: (-?\d+\.\d+) points",
            "student": r"^distilled student: [\d,]+ parameters = (\d+\.\d+)%",
            "gap": r"^distilled student accuracy: .*\(gap (-?\d+\.\d+) points",
        }.items()
    }
    assert all(figures.values()), out
    # Sizes do not depend on how long the models trained.
    assert 0.25 < float(figures["int8_size"].group(1)) < 0.35
    assert float(figures["sparse_gzip"].group(1)) < 0.2
    assert float(figures["student"].group(1)) < 10.0
    assert figures["student"].group(2) == "PASS"
    latency = re.search(
        r"^int8 vs float TFLite batch-1 latency \(p50\): (\d+\.\d+)x", out, re.M
    )
    assert latency and float(latency.group(1)) > 0, out


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow worker: run it once, under tensorflow",
)
def test_generative_benchmark_quick_prints_images_per_second():
    done = _run_benchmark(
        "generative.py", "--quick", "--backends", "tensorflow", timeout=600
    )
    row = re.search(
        r"^tensorflow +(\d+\.\d) +(\d+\.\d\d) +(\d+\.\d\d) +(\d+\.\d)x$",
        done.stdout,
        re.M,
    )
    assert row, done.stdout
    gan, ddpm, ddim, ratio = map(float, row.groups())
    # One generator pass beats 20 denoiser passes; DDIM runs all 20 too here.
    assert gan > ddpm > 0 and ddim > 0, done.stdout
    assert 0.3 < ratio < 3.0, done.stdout


def test_cli_benchmark_quick_prints_help_and_list_times():
    done = _run_benchmark("cli.py", "--quick", timeout=120)
    for label in ("kerasdl --help", "kerasdl list"):
        row = re.search(rf"^{re.escape(label)}\s+(\d+\.\d+)", done.stdout, re.M)
        assert row and float(row.group(1)) > 0, done.stdout


@pytest.mark.one_backend
def test_graph_benchmark_quick_prints_sparse_and_dense_edges_per_second():
    done = _run_benchmark(
        "graphs.py", "--quick", "--backends", "tensorflow", timeout=300
    )
    rows = re.findall(
        r"^tensorflow +([\d,]+) +([\d,]+) +([\d,]+) +([\d,]+) +(\d+\.\d)x$",
        done.stdout,
        re.M,
    )
    assert [r[:2] for r in rows] == [("1,000", "100"), ("10,000", "1,000")], done.stdout
    assert all(int(r[2].replace(",", "")) > 0 for r in rows), done.stdout
    # Both arms compute the same layer.
    difference = re.search(r"outputs, max \|difference\|: (\S+)$", done.stdout, re.M)
    assert difference and float(difference.group(1)) < 1e-4, done.stdout
    assert re.search(r"^tensorflow sparse growth: 1,000 -> 10,000", done.stdout, re.M)


@pytest.mark.one_backend
def test_serving_benchmark_quick_prints_rates_ratios_and_no_5xx():
    done = _run_benchmark("serving.py", "--quick", timeout=300)
    out = done.stdout
    rows = re.findall(
        r"^lenet5 +(\d+) +(on|off) +(\d+\.\d) +(\d+\.\d+) +(\d+\.\d+) +(\d+\.\d+)x "
        r"+(\d+\.\d+)x$",
        out,
        re.M,
    )
    assert sorted((r[0], r[1]) for r in rows) == [
        ("1", "off"), ("1", "on"), ("8", "off"), ("8", "on")
    ], out  # fmt: skip
    # Throughput, then p50 <= p99, then positive ratios.
    assert all(float(r[2]) > 0 and float(r[3]) <= float(r[4]) for r in rows), out
    assert all(float(r[5]) > 0 and float(r[6]) > 0 for r in rows), out
    assert re.search(r"^lenet5 +- +in-proc +\d+\.\d", out, re.M), out
    hostile = re.search(
        r"^hostile requests: (\d+) \((.*)\); 5xx: (\d+); healthy after: (\w+)$",
        out,
        re.M,
    )
    assert hostile and int(hostile[1]) >= 20, out
    assert (hostile[3], hostile[4]) == ("0", "yes"), out
    assert all(400 <= int(code) < 500 for code in re.findall(r"(\d+): \d+", hostile[2]))


@pytest.mark.one_backend
def test_search_benchmark_quick_prints_the_four_comparisons(tmp_path):
    done = _run_benchmark(
        "search.py", "--quick", "--directory", str(tmp_path), timeout=600
    )
    out = done.stdout
    row = re.search(
        r"^median +(\d\.\d{4}) +(\d\.\d{4})  evolution >= random: (PASS|below random)$",
        out,
        re.M,
    )
    assert row, out
    assert re.search(
        r"test accuracy \d\.\d{4} vs published CNN 0\.94: (beats|falls short of) it by \d+\.\d points",
        out,
    ), out
    for label in ("random", "hyperband"):
        assert re.search(rf"^{label} +\d+ +\d+ +\d\.\d{{4}}$", out, re.M), out
    assert re.search(
        r"^MLP baseline: \d\.\d{4} with [\d,]+ params; dominated by the front: (PASS|no)$",
        out,
        re.M,
    ), out
    assert re.search(r"^CNN baseline: ", out, re.M), out
    assert (tmp_path / "pareto.png").stat().st_size > 5000


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow worker: run it once, under tensorflow",
)
@pytest.mark.one_backend
def test_inference_benchmark_quick_times_every_file_against_float():
    out = _run_benchmark("inference.py", "--quick", timeout=600).stdout
    arms = (
        "tflite",
        "tflite_fp16",
        "tflite_dynamic",
        "tflite_int8",
        "onnx",
        "onnx_int8",
        "int8_io",
        "int8_plain",
    )
    number = r"(\d+\.\d+)"
    for arm in arms:
        for threads in (1, 2):
            row = re.search(
                rf"^{arm} +{threads} +{' +'.join([number] * 8)}$", out, re.M
            )
            assert row, out
            values = [float(v) for v in row.groups()]
            assert all(v > 0 for v in values), row.group(0)
            if arm == "tflite":  # the reference of every ratio column
                assert values[1] == values[4] == values[7] == 1.0
            if arm.endswith("int8"):  # int8 weights: well under half the float file
                assert values[1] < 0.5, row.group(0)
    assert re.search(r"^keras tensorflow +all +\d", out, re.M), out
    # Where the time goes: each convolution's float and int8 time, by its K.
    assert re.search(r"^  CONV_2D K=\d+ +-?\d+\.\d+ +-?\d+\.\d+ ", out, re.M), out
    assert re.search(r"^  builtin kernels only \(no XNNPACK delegate\)", out, re.M)
    verdict = re.search(rf"^lenet5 +latency {number}x  size {number}x", out, re.M)
    assert verdict, out
    if float(verdict.group(1)) > 1.0:  # slower int8 comes with its measured cause
        assert re.search(r"^  latency cause: \d+% of the int8 time", out, re.M), out


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow workers: run it once, under tensorflow",
)
@pytest.mark.one_backend
def test_export_benchmark_quick_measures_each_arm_and_the_ratio():
    out = _run_benchmark("export.py", "--quick", timeout=900).stdout
    for arm in ("keras", "kerasdl same", "kerasdl all"):
        row = re.search(rf"^{arm} +tensorflow +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) "
                        r"+([\d.]+) +([\d.]+)$", out, re.M)  # fmt: skip
        assert row, out
        seconds, baseline, growth, process, children, peak = map(float, row.groups())
        assert seconds > 0 and 0.05 < process < 16 and peak == max(process, children)
        assert 0 <= growth <= process
        assert abs(baseline + growth - process) <= 0.02, out  # rounded to 0.01
    verdict = re.search(r"^resnet20 +time (\d+\.\d+)x  largest peak \(all formats\) "
                        r"(\d+\.\d+) GB", out, re.M)  # fmt: skip
    assert verdict and float(verdict.group(1)) > 0, out


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow worker: run it once, under tensorflow",
)
@pytest.mark.one_backend
def test_pipelines_benchmark_quick_rates_every_input_against_the_default():
    out = _run_benchmark("pipelines.py", "--quick", timeout=900).stdout
    inputs = ("numpy, spe 1", "numpy, spe 8", r"tf\.data \+prefetch, spe 1",
              r"tf\.data \+prefetch, spe 8", r"tf\.data no prefetch, spe 1",
              "PyDataset, spe 1", "PyDataset, spe 8")  # fmt: skip
    for label in inputs:
        row = re.search(rf"^tensorflow +{label} +(\d+\.\d) +(\d+\.\d+)$", out, re.M)
        assert row and float(row.group(1)) > 0, (label, out)
        if label.startswith(r"tf\.data \+prefetch, spe 1"):
            assert row.group(2) == "1.000"  # the default is the yardstick
    assert re.search(r"^tensorflow +(the default is the fastest|fastest: )", out, re.M)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow and PyTorch workers: run it once, under tensorflow",
)
@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the PyTorch loop needs torch"
)
@pytest.mark.one_backend
def test_peers_benchmark_quick_prints_ratio_table_with_agreeing_losses():
    out = _run_benchmark("peers.py", "--quick", timeout=600).stdout
    for model in ("mlp", "lenet5"):
        counts = re.search(rf"^== {model} .*\n^parameters .*: keras ([\d,]+) / ([\d,]+); "
                           r"pytorch ([\d,]+) / ([\d,]+)$", out, re.M)  # fmt: skip
        assert counts and counts.group(1, 2) == counts.group(3, 4), out
        section = out[counts.end() :].split("\n\n")[0]
        arms = (("keras tensorflow jit=off", None), ("pytorch loop", "1.00"))
        for arm, ratio in arms:
            row = re.search(rf"^{arm} +(\d+\.\d) +(\d+\.\d\d)x +(\d+) +(\d+\.\d+) +"
                            r"(\d+\.\d+)  yes \(", section, re.M)  # fmt: skip
            assert row and float(row.group(1)) > 0, (arm, section)
            assert ratio is None or row.group(2) == ratio
        best = re.search(rf"^{model}: best Keras arm keras tensorflow jit=off at "
                         r"(\d+\.\d\d)x the PyTorch loop\.$", out, re.M)  # fmt: skip
        assert best and float(best.group(1)) > 0, out
    assert "MISMATCH" not in out


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own PyTorch process: run it once, under tensorflow",
)
@pytest.mark.one_backend
def test_layouts_benchmark_quick_prints_both_layouts_and_the_ratio():
    out = _run_benchmark(
        "layouts.py", "--quick", "--backend", "torch", timeout=300
    ).stdout
    for layout in ("channels_last", "channels_first"):
        row = re.search(rf"^{layout} +(\d+\.\d) +(\d+) +(\d+\.\d+)$", out, re.M)
        assert row, out
        assert float(row.group(1)) > 0, row.group(0)
    ratio = re.search(
        r"^Median ratio channels_first/channels_last \(torch\): (\d+\.\d+)x$",
        out,
        re.M,
    )
    assert ratio and 0.05 < float(ratio.group(1)) < 20, out
    # Same weights and images in both arms: the first losses agree.
    assert "First losses agree (same weights, same images): yes" in out, out
