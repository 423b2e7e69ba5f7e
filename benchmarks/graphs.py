"""Benchmark: one GCN layer, sparse message passing vs a dense adjacency.

For each backend (one worker subprocess per backend: the Keras backend is
fixed per process) and each graph size it times one training step (forward
and backward, `train_on_batch` with SGD) of a one-layer model:

- sparse: `kerasdl.layers.GCNConv` on `x (1, N, F)` and `edge_index
  (1, 2, E)`: gather along the edges and segment sums, O(E) work;
- dense: the same layer written with an `(N, N)` adjacency matrix,
  `D^-1/2 (A + I) D^-1/2 X W + b`, O(N^2) memory and O(N^2 F) work.

Graphs are random with E edges on N = E / 10 nodes (average degree 10), so
N^2 grows 100x for every 10x in E. The dense arm is skipped, with the
reason printed, where its adjacency would not fit comfortably in memory.
At the smallest size both arms' outputs are compared (same weights), so
the two really compute the same layer.

Columns: edges per second (E / median step time) of each arm and the
sparse/dense speed ratio; the last lines give how the sparse step time
grows per 10x edges (linear growth is 10x).

Usage:
    python benchmarks/graphs.py                    # all backends, 10^4..10^6
    python benchmarks/graphs.py --backends jax --repeats 5
    python benchmarks/graphs.py --quick            # seconds: smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time

# The worker runner next to this script (benchmarks/ is sys.path[0]).
import _workers
import numpy as np

_BACKEND_PACKAGES = _workers.BACKEND_PACKAGES

FEATURES = 32  # input and output features per node
DEGREE = 10  # average in-degree: N = E / DEGREE
DENSE_COPIES = 6  # N x N float32 buffers the dense step holds at once (A, A+I, ...)


def _available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30  # unknown: assume a small machine


def _dense_skip_reason(nodes: int) -> str | None:
    need = DENSE_COPIES * 4 * nodes**2
    limit = _available_bytes() // 2
    if need > limit:
        return (
            f"N={nodes:,}: {DENSE_COPIES} N^2 float32 buffers = {need / 2**30:.0f} GiB"
            f" > half the available memory ({limit / 2**30:.1f} GiB)"
        )
    return None


def _graph(edges: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    nodes = max(edges // DEGREE, 2)
    x = rng.standard_normal((1, nodes, FEATURES)).astype("float32")
    edge_index = rng.integers(0, nodes, (1, 2, edges)).astype("int32")
    return x, edge_index


def _dense_layer_class():
    import keras
    from keras import ops

    class DenseGCN(keras.layers.Layer):
        """GCNConv's formula with a dense (N, N) adjacency (benchmark only)."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, x_shape, adjacency_shape=None):
            self.kernel = self.add_weight(
                name="kernel",
                shape=(x_shape[-1], self.units),
                initializer="glorot_uniform",
            )
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer="zeros"
            )

        def call(self, x, adjacency):
            a = adjacency + ops.eye(ops.shape(adjacency)[-1], dtype=adjacency.dtype)
            inv_sqrt = ops.rsqrt(ops.sum(a, axis=-1))  # (1, N); >= 1 with self loops
            a = ops.expand_dims(inv_sqrt, -1) * a * ops.expand_dims(inv_sqrt, -2)
            return ops.matmul(a, ops.matmul(x, self.kernel)) + self.bias

    return DenseGCN


def _time_step(model, inputs, target, repeats: int) -> float:
    model.train_on_batch(inputs, target)  # warm-up: tracing / compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.train_on_batch(inputs, target)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _worker(args) -> int:
    import keras

    from kerasdl.layers import GCNConv

    keras.utils.set_random_seed(0)
    dense_gcn = _dense_layer_class()
    rows, max_difference = [], None
    for edges in args.edges:
        x, edge_index = _graph(edges)
        nodes = x.shape[1]
        target = np.zeros((1, nodes, FEATURES), "float32")
        x_in = keras.Input((None, FEATURES))
        e_in = keras.Input((2, None), dtype="int32")
        sparse = keras.Model([x_in, e_in], GCNConv(FEATURES)(x_in, e_in))
        sparse.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        row = {
            "edges": edges,
            "nodes": nodes,
            "sparse_s": _time_step(sparse, [x, edge_index], target, args.repeats),
        }
        reason = _dense_skip_reason(nodes)
        if reason is None:
            adjacency = np.zeros((1, nodes, nodes), "float32")
            np.add.at(adjacency[0], (edge_index[0, 1], edge_index[0, 0]), 1.0)
            a_in = keras.Input((None, None))
            dense = keras.Model([x_in, a_in], dense_gcn(FEATURES)(x_in, a_in))
            dense.set_weights(sparse.get_weights())
            dense.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
            if max_difference is None:  # the same layer: same outputs
                a = keras.ops.convert_to_numpy(sparse([x, edge_index]))
                b = keras.ops.convert_to_numpy(dense([x, adjacency]))
                max_difference = float(np.abs(a - b).max())
            row["dense_s"] = _time_step(dense, [x, adjacency], target, args.repeats)
            del adjacency
        else:
            row["dense_skipped"] = reason
        rows.append(row)
    result = {"rows": rows, "max_difference": max_difference}
    _workers.emit(result)
    return 0


def _run_worker(backend: str, args) -> dict:
    """Runs one backend's worker; returns its result or {"error": reason}."""
    if importlib.util.find_spec(_BACKEND_PACKAGES[backend]) is None:
        return {"error": "not installed"}
    worker_args = ["--repeats", str(args.repeats), "--edges", *map(str, args.edges)]
    return _workers.run_worker(__file__, backend, worker_args, args.timeout)


def _table(results: dict) -> str:
    header = [
        "backend",
        "edges",
        "nodes",
        "sparse edges/s",
        "dense edges/s",
        "sparse/dense",
    ]
    rows, notes = [], []
    for backend, result in results.items():
        if "error" in result:
            rows.append([backend, result["error"], "", "", "", ""])
            continue
        for row in result["rows"]:
            sparse = row["edges"] / row["sparse_s"]
            if "dense_s" in row:
                dense = row["edges"] / row["dense_s"]
                cells = [f"{dense:,.0f}", f"{sparse / dense:.1f}x"]
            else:
                cells = ["skipped", "-"]
                notes.append(f"{backend}: dense skipped at {row['dense_skipped']}")
            rows.append(
                [backend, f"{row['edges']:,}", f"{row['nodes']:,}", f"{sparse:,.0f}"]
                + cells
            )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines + notes)


def _growth(results: dict) -> list[str]:
    lines = []
    for backend, result in results.items():
        if "error" in result or len(result["rows"]) < 2:
            continue
        steps = [
            f"{a['edges']:,} -> {b['edges']:,} edges: "
            f"{b['sparse_s'] / a['sparse_s']:.1f}x time for "
            f"{b['edges'] / a['edges']:.2g}x edges"
            for a, b in zip(result["rows"], result["rows"][1:])
        ]
        lines.append(f"{backend} sparse growth: " + "; ".join(steps))
        if result["max_difference"] is not None:
            lines.append(
                f"{backend} sparse vs dense outputs, max |difference|: "
                f"{result['max_difference']:.2e}"
            )
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    _workers.add_backends_argument(parser)
    parser.add_argument(
        "--edges",
        nargs="+",
        type=int,
        default=[10**4, 10**5, 10**6],
        help="graph sizes in edges (nodes = edges / 10)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per backend worker"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 and 10,000 edges, 1 repeat"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    """Runs the benchmark (or, with --worker, one backend's measurements)."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.edges, args.repeats = [1000, 10000], 1
    if args.worker:
        return _worker(args)
    print(
        f"One GCN layer ({FEATURES} -> {FEATURES} features), forward + backward, "
        f"median of {args.repeats} steps after a warm-up; N = E / {DEGREE}"
    )
    results = {backend: _run_worker(backend, args) for backend in args.backends}
    print(_table(results))
    for line in _growth(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
