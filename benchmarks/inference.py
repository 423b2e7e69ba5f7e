"""Benchmark: latency and size of every export format, side by side in one run.

For LeNet-5 (32x32x1), CIFAR ResNet-20 (32x32x3) and MobileNetV2 (160x160x3,
width 1.0), untrained but with batch-norm statistics taken from seeded
synthetic images (benchmarks/_models.py: without them a deep CNN's outputs
are constant, which the export verification refuses), `kerasdl.export` writes and
verifies TFLite float32, fp16, dynamic-range and full-integer int8, and ONNX;
onnxruntime's static quantization then makes an int8 ONNX file (QDQ, per
channel) from the same calibration images. Every file is opened with its own
runtime (LiteRT with 1 and 2 threads; ONNX Runtime with full graph
optimization) and timed at batch 1 and batch 32; Keras itself is timed on
each backend in a worker process of its own (`predict_on_batch`, the
compiled predict function).

Arms are interleaved: each round times every arm once (median of `--runs`
calls after warm-up), and the table gives the median over rounds of each
arm's p50 and p95, and the median over rounds of the per-round ratio of each
arm to TFLite float32 with the same threads and batch (machines here are
noisy; a ratio from the same round is not). The targets of issue 17: int8
TFLite at most 0.45x float latency (batch 1, one thread) and at most 0.27x
float size on ResNet-20 and MobileNetV2; the output names which hold and,
for each one missed (and for a model whose int8 file is slower than float),
the cause measured and what was tried:

- where the time goes: float and int8 time of each op grouped by op and K,
  the multiply-adds per output value, from prefix graphs (the file cut after
  each op; LiteRT's Python API has no per-op profiler and its benchmark_model
  binary is not shipped), and both files with TFLite's builtin kernels only
  (is XNNPACK running the int8 graph?);
- tried beside int8: one weight scale per tensor without tensor names,
  int8 inputs and outputs (no QUANTIZE/DEQUANTIZE ops), and a bare
  `TFLiteConverter.from_keras_model` file (do kerasdl's options cost
  anything?);
- size: int8 weights and int32 biases, per-channel quantization parameters
  (a float32 scale and an int64 zero point per channel of every weight and
  bias tensor, as TFLite's schema stores them), names and graph, each
  against the float file.

Measured 2026-12-06 on 2 shared x86 CPUs (AVX512-VNNI; LiteRT 2.3.0,
TensorFlow 2.21; under other engineers' load the table's MobileNetV2 int8
ratio ranged 0.40-0.64, so the ratios below come from arms alternated call
by call). The int8 graphs are as lean as TFLite makes them: every op fused,
QUANTIZE/DEQUANTIZE only at the ends, XNNPACK runs every op but int8
SOFTMAX and ResNet-20's 1x1 MAX_POOL_2D shortcuts (in float too); kerasdl's
file has the bare converter's size and latency (0.58x float on MobileNetV2,
0.51x on ResNet-20), and int8 I/O or per-tensor scales move it by under 2%.
The cause is the int8 kernels on this CPU: ops with many multiply-adds per
output run at 0.02-0.3x float (MobileNetV2's deep 1x1 convolutions,
ResNet-20's last two stages); those with few run near or above float:
depthwise 3x3 (K=9, 2.5-3.4x, 38-46% of MobileNetV2's int8 time), the
3-channel stem (K=27, 2.3-3.2x), 1x1 convolutions over 16-32 channels
(K=16-32, 0.8-1.2x) and ResNet-20's first stage (3x3 over 16 channels,
K=144, 0.73x, 61% of its int8 time). The published 0.48-0.61x for int8
MobileNets comes from ARM phones. Size: int8 weights with int32 biases
alone are 0.252x (MobileNetV2) and 0.248x (ResNet-20) of float, and the
per-channel parameters add 0.046x and 0.016x (24 bytes per output channel
of weights and biases), so a per-channel file cannot reach 0.27x; one scale
per tensor without names gives 0.255x and 0.259x (class agreement 0.875
and 1.000 on these untrained models), but per-tensor weights are known to
cost MobileNets accuracy, so kerasdl keeps per-channel as the default.

Usage:
    python benchmarks/inference.py                 # ~20 min on 2 CPUs
    python benchmarks/inference.py --quick         # smoke test: LeNet-5 only
    python benchmarks/inference.py --models resnet20 --rounds 7
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The worker runner next to this script (benchmarks/ is sys.path[0]).
import _workers
import numpy as np
from _models import calibrated_model

SEED = 0
MODELS = {
    "lenet5": ({"model": "lenet5", "activation": "relu", "batch_norm": True},
               (32, 32, 1)),
    "resnet20": ({"model": "resnet20"}, (32, 32, 3)),
    "mobilenet_v2": ({"model": "mobilenet_v2", "alpha": 1.0}, (160, 160, 3)),
}  # fmt: skip
TFLITE_FORMATS = ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8")
TARGET_LATENCY, TARGET_SIZE = 0.45, 0.27
TARGET_MODELS = ("resnet20", "mobilenet_v2")


def _images(shape, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded images whose class is the brightest of 10 fixed patterns.

    Not noise: the model can learn something in a short fit, so its outputs
    vary with the input like a trained model's.
    """
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(SEED).normal(size=(10, *shape)).astype("float32")
    labels = rng.integers(0, 10, n)
    x = rng.normal(0.0, 0.5, size=(n, *shape)).astype("float32") + patterns[labels]
    return x, labels.astype("int32")


def _onnx_int8(source: str, target: str, calibration: np.ndarray) -> None:
    """onnxruntime's static int8 quantization (QDQ, per channel)."""
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = onnxruntime.InferenceSession(source).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{name: calibration[i : i + 1]}
                                  for i in range(len(calibration))])  # fmt: skip

        def get_next(self):
            return next(self._batches, None)

    prepared = target + ".pre.onnx"
    quant_pre_process(source, prepared)
    quantize_static(prepared, target, Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)  # fmt: skip
    os.remove(prepared)


def _keras_worker(args) -> dict:
    """Times `predict_on_batch` of a saved model on this process's backend."""
    import keras

    model = keras.saving.load_model(args.keras_file)
    x = np.load(args.inputs)
    result = {}
    for batch in (1, 32):
        p50s, p95s = [], []
        for _ in range(args.rounds):
            p50, p95 = _time(lambda b=batch: model.predict_on_batch(x[:b]), args.runs)
            p50s.append(p50)
            p95s.append(p95)
        result[f"b{batch}"] = [statistics.median(p50s), statistics.median(p95s)]
    return result


def _time(call, runs: int) -> tuple[float, float]:
    from kerasdl.exporters.base import time_calls

    return time_calls(call, runs)


def _open_runners(files: dict, threads: tuple) -> dict:
    """{(arm, threads): runner} for every file; ONNX Runtime at full optimization."""
    from kerasdl.exporters.formats import get_format

    runners = {}
    for arm, (fmt, path) in files.items():
        for t in threads:
            runners[arm, t] = get_format(fmt).open(path, num_threads=t)
    return runners


def _measure(runners: dict, x: np.ndarray, rounds: int, runs: int) -> dict:
    """{(arm, threads, batch): {"p50": [...], "p95": [...]}} over interleaved rounds."""
    times: dict = {}
    for _ in range(rounds):
        for batch in (1, 32):
            for key, runner in runners.items():
                p50, p95 = runner.latency([x[:batch]], runs=runs)
                entry = times.setdefault((*key, batch), {"p50": [], "p95": []})
                entry["p50"].append(p50)
                entry["p95"].append(p95)
    return times


def _ratio(times: dict, key: tuple, reference: tuple) -> float:
    """Median over rounds of the per-round p50 ratio of `key` to `reference`."""
    pairs = zip(times[key]["p50"], times[reference]["p50"], strict=True)
    return statistics.median(a / b for a, b in pairs)


def _tflite_breakdown(path: str) -> dict:
    """Bytes of a .tflite file by what they hold (read with TFLite's schema)."""
    from tensorflow.lite.python import schema_py_generated as schema

    with open(path, "rb") as file:
        content = file.read()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    weights = sum(len(b.data) for b in model.buffers if b.data is not None)
    quantization = names = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            names += len(tensor.name or b"")
            q = tensor.quantization
            if q is not None:  # scale/min/max float32, zero point int64
                for values, size in (
                    (q.scale, 4),
                    (q.zeroPoint, 8),
                    (q.min, 4),
                    (q.max, 4),
                ):
                    quantization += 0 if values is None else len(values) * size
    return {"total": len(content), "weights": weights, "quantization": quantization,
            "names": names, "structure": len(content) - weights - quantization - names}  # fmt: skip


def _plain_int8(model, path: str, calibration: np.ndarray) -> None:
    """An int8 file from a bare `TFLiteConverter.from_keras_model`, no kerasdl options.

    The reference for "do kerasdl's conversion options cost anything?".
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [calibration[i : i + 1]] for i in range(len(calibration))
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # Keras' export inside the converter prints every captured variable.
    with contextlib.redirect_stdout(io.StringIO()):
        content = converter.convert()
    with open(path, "wb") as file:
        file.write(content)


def _reduction(name: str, op, tensors) -> int | None:
    """K, the multiply-adds per output value of a convolution or dense op.

    Each output also pays a fixed cost in an int8 kernel (requantization:
    int32 sum to int8 with the channel's scale), so int8 gains most where K
    is large and loses where it is small.
    """
    if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return None
    shape = tensors[int(op.inputs[1])].shape
    if name == "CONV_2D":  # kernel [out, kh, kw, in]
        return int(shape[1] * shape[2] * shape[3])
    if name == "DEPTHWISE_CONV_2D":  # kernel [1, kh, kw, out]: one channel each
        return int(shape[1] * shape[2])
    return int(shape[1])  # FULLY_CONNECTED, kernel [out, in]


def _prefix_models(path: str):
    """Yields (group, interpreter) for the graph cut after each op in turn.

    The interpreter runs ops[:k] (one thread, default XNNPACK delegate) and
    ends at op k's output; group is the op's name with, for a convolution
    or dense op, its K ("DEPTHWISE_CONV_2D K=9"). LiteRT's Python API has no
    per-op profiler (the benchmark_model binary is not shipped), so an op's
    time is the difference between two consecutive prefixes.
    """
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    names = {
        v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
    }
    model = flatbuffer_utils.read_model(path)
    model.signatureDefs = []  # the cut graph's output is not the signature's
    subgraph = model.subgraphs[0]
    operators = list(subgraph.operators)
    for k, op in enumerate(operators, start=1):
        subgraph.operators = operators[:k]
        subgraph.outputs = [int(op.outputs[0])]
        code = model.operatorCodes[op.opcodeIndex]
        group = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        reduction = _reduction(group, op, subgraph.tensors)
        if reduction is not None:
            group += f" K={reduction}"
        content = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
        interpreter = Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        yield group, interpreter


def _invoke_ms(interpreter, sample: np.ndarray) -> float:
    index = interpreter.get_input_details()[0]["index"]
    start = time.perf_counter()
    interpreter.set_tensor(index, sample)
    interpreter.invoke()
    return (time.perf_counter() - start) * 1000.0


def _op_profile(paths: dict, sample: np.ndarray, runs: int, rounds: int) -> dict:
    """{arm: {group: ms}}: where each file's batch-1, one-thread time goes.

    The prefixes of all files are timed side by side, call by call, in
    `rounds` sweeps over the graph, and each prefix keeps its fastest call
    of all rounds (machines here are shared: the fastest call is the least
    disturbed one, and a burst of load rarely covers one prefix in every
    sweep); an op's time is its prefix's minus the previous prefix's,
    summed by group (a few tiny ops come out negative: noise).
    """
    fastest = {arm: [] for arm in paths}  # per prefix, over all rounds
    groups = {arm: [] for arm in paths}
    for sweep in range(rounds):
        steps = itertools.zip_longest(*(_prefix_models(p) for p in paths.values()))
        for k, step in enumerate(steps):
            live = [(arm, item) for arm, item in zip(paths, step, strict=True) if item]
            for _, (_, interpreter) in live:  # warm-up
                _invoke_ms(interpreter, sample)
            best = {arm: float("inf") for arm, _ in live}
            for _ in range(runs):
                for arm, (_, interpreter) in live:
                    best[arm] = min(best[arm], _invoke_ms(interpreter, sample))
            for arm, (group, _) in live:
                if sweep == 0:
                    fastest[arm].append(best[arm])
                    groups[arm].append(group)
                else:
                    fastest[arm][k] = min(fastest[arm][k], best[arm])
    result = {}
    for arm in paths:
        spent = np.diff(fastest[arm], prepend=0.0)
        result[arm] = {}
        for group, ms in zip(groups[arm], spent, strict=True):
            result[arm][group] = result[arm].get(group, 0.0) + float(ms)
    return result


def _without_xnnpack(paths: dict, sample: np.ndarray, runs: int) -> dict:
    """{arm: ms}: batch-1, one-thread p50 with TFLite's builtin kernels only."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    result = {}
    for arm, path in paths.items():
        interpreter = Interpreter(
            model_path=path, num_threads=1,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )  # fmt: skip
        interpreter.allocate_tensors()
        result[arm] = _time(lambda i=interpreter: _invoke_ms(i, sample), runs)[0]
    return result


def _benchmark_model(name: str, args, scratch: str) -> dict:
    import kerasdl
    from kerasdl.exporters import read_manifest

    spec, shape = MODELS[name]
    model = calibrated_model(spec, shape, 10, _images(shape, 16, SEED)[0])
    calibration, _ = _images(shape, 100, SEED + 1)
    x, _ = _images(shape, 32, SEED + 2)
    directory = os.path.join(scratch, name)
    start = time.perf_counter()
    # An untrained model's class scores are near ties: quantized files are
    # verified but not held to class agreement (min_agreement=0).
    kerasdl.export(model, directory, formats=[*TFLITE_FORMATS, "onnx"],
                   representative_data=calibration, sample_inputs=x[:16],
                   min_agreement=0.0)  # fmt: skip
    export_seconds = time.perf_counter() - start
    manifest = read_manifest(directory)
    files = {fmt: (fmt, os.path.join(directory, entry["path"]))
             for fmt, entry in manifest["files"].items()}  # fmt: skip
    # What the int8 file's size is made of, and the smallest int8 variant:
    # one scale per tensor (no per-channel scale and int64 zero point per
    # output channel) and no intermediate tensor names.
    small = os.path.join(scratch, f"{name}_int8_small")
    kerasdl.export(model, small, formats=["tflite_int8"], representative_data=calibration,
                   sample_inputs=x[:16], per_channel=False, strip_tensor_names=True,
                   min_agreement=0.0)  # fmt: skip
    files["int8_per_tensor"] = ("tflite_int8", os.path.join(small, "model_int8.tflite"))
    agreement = read_manifest(small)["files"]["tflite_int8"]["verification"]
    # What was tried against int8 latency: int8 inputs and outputs (no
    # QUANTIZE/DEQUANTIZE ops at the boundaries), and a bare converter.
    int8_io = os.path.join(scratch, f"{name}_int8_io")
    kerasdl.export(model, int8_io, formats=["tflite_int8"], representative_data=calibration,
                   sample_inputs=x[:16], int8_io=True, min_agreement=0.0)  # fmt: skip
    files["int8_io"] = ("tflite_int8", os.path.join(int8_io, "model_int8.tflite"))
    files["int8_plain"] = ("tflite_int8", os.path.join(scratch, f"{name}_plain.tflite"))
    _plain_int8(model, files["int8_plain"][1], calibration)
    onnx_int8 = os.path.join(directory, "model_int8.onnx")
    _onnx_int8(files["onnx"][1], onnx_int8, calibration)
    files["onnx_int8"] = ("onnx", onnx_int8)
    runners = _open_runners(files, (1, 2))
    times = _measure(runners, x, args.rounds, args.runs)
    pair = {arm: files[arm][1] for arm in ("tflite", "tflite_int8")}
    profile = _op_profile(pair, x[:1], args.runs, args.rounds)
    builtin = _without_xnnpack(pair, x[:1], args.runs)
    keras_file = os.path.join(scratch, f"{name}.keras")
    inputs = os.path.join(scratch, f"{name}.npy")
    model.save(keras_file)
    np.save(inputs, x)
    keras_times = {}
    for backend in args.backends:
        keras_times[backend] = _workers.run_worker(
            __file__, backend,
            ["--keras-file", keras_file, "--inputs", inputs,
             "--rounds", str(args.rounds), "--runs", str(args.runs)],
            timeout=900,
        )  # fmt: skip
    sizes = {arm: os.path.getsize(path) for arm, (_, path) in files.items()}
    breakdown = {arm: _tflite_breakdown(files[arm][1])
                 for arm in ("tflite", "tflite_int8", "int8_per_tensor")}  # fmt: skip
    return {"params": model.count_params(), "export_seconds": export_seconds,
            "sizes": sizes, "times": times, "keras": keras_times,
            "breakdown": breakdown, "profile": profile, "builtin": builtin,
            "per_tensor_agreement": agreement["class_agreement"]}  # fmt: skip


def _print_model(name: str, result: dict) -> dict:
    sizes, times = result["sizes"], result["times"]
    float_size = sizes["tflite"]
    print(f"\n{name}: {result['params']:,} parameters, exported to 5 formats and "
          f"verified in {result['export_seconds']:.1f} s")  # fmt: skip
    header = (f"{'file':<16} {'thr':>3} {'size MB':>8} {'x float':>7} "
              f"{'b1 p50':>8} {'b1 p95':>8} {'x float':>7} "
              f"{'b32 p50':>8} {'b32 p95':>8} {'x float':>7}")  # fmt: skip
    print(header)
    for arm in sizes:
        for t in (1, 2):
            cells = []
            for batch in (1, 32):
                key = (arm, t, batch)
                p50 = statistics.median(times[key]["p50"])
                p95 = statistics.median(times[key]["p95"])
                ratio = _ratio(times, key, ("tflite", t, batch))
                cells.append(f"{p50:>8.3f} {p95:>8.3f} {ratio:>7.3f}")
            print(f"{arm:<16} {t:>3} {sizes[arm] / 1e6:>8.3f} "
                  f"{sizes[arm] / float_size:>7.3f} {' '.join(cells)}")  # fmt: skip
    for backend, measured in result["keras"].items():
        if "error" in measured:
            print(f"{'keras ' + backend:<16} {'-':>3} failed: {measured['error']}")
            continue
        cells = []
        for batch in (1, 32):
            p50, p95 = measured[f"b{batch}"]
            reference = statistics.median(times[("tflite", 2, batch)]["p50"])
            cells.append(f"{p50:>8.3f} {p95:>8.3f} {p50 / reference:>7.3f}")
        print(f"{'keras ' + backend:<16} {'all':>3} {'':>8} {'':>7} {' '.join(cells)}")
    print("bytes by content (weights: buffers, int32 biases included; quantization: "
          "scale float32 + zero point int64 per channel or tensor):")  # fmt: skip
    for arm, parts in result["breakdown"].items():
        cells = "  ".join(f"{k} {v:,}" for k, v in parts.items())
        print(f"  {arm:<16} {cells}")
    print(f"  int8_per_tensor class agreement with Keras: "
          f"{result['per_tensor_agreement']:.3f}")  # fmt: skip
    slow = _print_profile(result["profile"], result["builtin"])
    tried = {arm: _ratio(times, (arm, 1, 1), ("tflite", 1, 1))
             for arm in ("int8_io", "int8_per_tensor", "int8_plain")}  # fmt: skip
    parts = result["breakdown"]["tflite_int8"]
    return {"latency": _ratio(times, ("tflite_int8", 1, 1), ("tflite", 1, 1)),
            "size": sizes["tflite_int8"] / float_size,
            "smallest": sizes["int8_per_tensor"] / float_size,
            "parts": {k: v / float_size for k, v in parts.items()},
            "slow": slow, "tried": tried, "builtin": result["builtin"]}  # fmt: skip


def _by_op_and_k(group: str) -> tuple:
    name, _, k = group.partition(" K=")
    return name, int(k or 0)


def _print_profile(profile: dict, builtin: dict) -> dict:
    """Prints float and int8 time by op group; returns the slow groups' share.

    Slow: int8 above the latency target's ratio to float. Returns
    {"share": fraction of the int8 time in slow groups, "groups": [(group,
    int8/float ratio)] of the three slow groups with the most int8 time,
    "boundaries": fraction in QUANTIZE and DEQUANTIZE, "int8_ms": the int8
    total}.
    """
    floats, ints = profile["tflite"], profile["tflite_int8"]
    total = sum(ints.values())
    print("time by op and K, the multiply-adds per output (batch 1, 1 thread, XNNPACK;"
          " each op's time is its prefix graph's fastest call minus the previous"
          " prefix's):")  # fmt: skip
    print(f"  {'op':<26} {'float ms':>8} {'int8 ms':>8} {'x float':>7}")
    slow, spent = [], 0.0
    for group in sorted(set(floats) | set(ints), key=_by_op_and_k):
        f, i = floats.get(group), ints.get(group, 0.0)
        # A tiny op's difference of two timings is noise: no ratio for it.
        tiny = f is None or f < 0.01 * sum(floats.values()) or i <= 0
        ratio = None if tiny else i / f
        cells = f"{'-' if f is None else f'{f:.3f}':>8} {i:>8.3f} "
        print(f"  {group:<26} {cells}{'-' if ratio is None else f'{ratio:.2f}':>7}")
        if ratio is not None and ratio > TARGET_LATENCY:
            slow.append((i, group, ratio))
            spent += i
    print(f"  {'total':<26} {sum(floats.values()):>8.3f} {total:>8.3f} "
          f"{total / sum(floats.values()):>7.2f}")  # fmt: skip
    print(f"  builtin kernels only (no XNNPACK delegate): float {builtin['tflite']:.3f} ms,"
          f" int8 {builtin['tflite_int8']:.3f} ms")  # fmt: skip
    slowest = [(group, ratio) for _, group, ratio in sorted(slow, reverse=True)[:3]]
    boundaries = ints.get("QUANTIZE", 0.0) + ints.get("DEQUANTIZE", 0.0)
    return {"share": spent / total if total > 0 else 0.0, "groups": slowest,
            "boundaries": boundaries / total if total > 0 else 0.0,
            "int8_ms": total}  # fmt: skip


def _latency_cause(ratios: dict) -> str:
    """The measured cause of slow int8 latency, and what was tried."""
    slow, tried = ratios["slow"], ratios["tried"]
    groups = ", ".join(f"{g} {r:.2f}x" for g, r in slow["groups"])
    builtin, xnnpack = ratios["builtin"]["tflite_int8"], slow["int8_ms"]
    delegate = (
        f"XNNPACK runs it ({xnnpack:.2f} ms; TFLite's builtin kernels {builtin:.2f} ms)"
        if builtin > xnnpack
        else f"TFLite's builtin kernels are faster here ({builtin:.2f} ms) than "
        f"XNNPACK ({xnnpack:.2f} ms)"
    )
    return (
        f"  latency cause: {slow['share']:.0%} of the int8 time is in ops whose int8 "
        f"kernels run above {TARGET_LATENCY}x their float time on this CPU ({groups});"
        f" int8 gains where an op does many multiply-adds per output (K) and loses "
        f"where it does few, and its fixed work per output (requantization) is not "
        f"paid back (table above). QUANTIZE/DEQUANTIZE ops take "
        f"{slow['boundaries']:.0%} of the int8 time; {delegate}.\n  tried: int8 "
        f"inputs/outputs "
        f"{tried['int8_io']:.3f}x, one scale per tensor "
        f"{tried['int8_per_tensor']:.3f}x, a bare TFLiteConverter.from_keras_model "
        f"{tried['int8_plain']:.3f}x float"
    )


def _size_cause(ratios: dict) -> str:
    """The measured cause of a missed size target: the file's parts against float."""
    parts = ratios["parts"]
    return (
        f"  size cause: int8 weights and int32 biases alone are "
        f"{parts['weights']:.3f}x float; per-channel scales (float32) and zero "
        f"points (int64, TFLite's schema), per weight and bias channel, add "
        f"{parts['quantization']:.3f}x, names {parts['names']:.3f}x, graph "
        f"{parts['structure']:.3f}x.\n  tried: one scale per tensor without names: "
        f"{ratios['smallest']:.3f}x (class agreement printed above)"
    )


def _verdicts(summary: dict) -> None:
    print(f"\nint8 TFLite against float TFLite (batch 1, 1 thread); targets: latency "
          f"<= {TARGET_LATENCY}x, size <= {TARGET_SIZE}x on {', '.join(TARGET_MODELS)}")  # fmt: skip
    for name, ratios in summary.items():
        latency, size = ratios["latency"], ratios["size"]
        if name in TARGET_MODELS:
            held = [
                f"latency {'met' if latency <= TARGET_LATENCY else 'MISSED'}",
                f"size {'met' if size <= TARGET_SIZE else 'MISSED'}",
            ]
            note = ", ".join(held)
            if latency > TARGET_LATENCY:
                note += "\n" + _latency_cause(ratios)
            if size > TARGET_SIZE:
                note += "\n" + _size_cause(ratios)
        else:
            note = "no target"
            if latency > 1.0:  # a tiny model: say what its int8 time is made of
                note += ", int8 slower than float\n" + _latency_cause(ratios)
        print(f"{name:<14} latency {latency:.3f}x  size {size:.3f}x  {note}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="LeNet-5, 1 round")
    parser.add_argument("--models", nargs="+", choices=list(MODELS),
                        default=list(MODELS))  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    _workers.add_backends_argument(parser)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keras-file", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _workers.emit(_keras_worker(args))
        return 0
    if args.quick:
        args.models, args.rounds, args.runs = ["lenet5"], 1, 5
        args.backends = ["tensorflow"]
    summary = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            summary[name] = _print_model(name, _benchmark_model(name, args, scratch))
    _verdicts(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
