"""The `kerasdl` command line: list, info, build, train, compress, search,
quickstart, evaluate and serve.

This launcher lives outside the `kerasdl` package on purpose: `import kerasdl`
registers every architecture (so `.keras` files load after it), which imports
Keras and its backend, several seconds. `kerasdl --help` and `kerasdl list`
are answered here from the argparse parser and kerasdl/model_index.json (a
copy of the registry's names, families and descriptions, checked equal to it
by tests/test_cli.py) without importing Keras or TensorFlow; every other
command imports its function from `kerasdl.cli`.

The command line is quiet: the lines TensorFlow, the TFLite converter and
LiteRT print below any log level (absl, oneDNN, CUDA, XNNPACK) are dropped
from stderr, and the deprecated-interpreter warning is filtered, so what the
user sees is the command's own output.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fnmatch
import importlib.util
import json
import os
import re
import sys
import threading
import warnings

__all__ = ["main", "make_parser"]

# Lines TensorFlow's C++ runtime writes to stderr while it loads, before any
# log level applies (TF_CPP_MIN_LOG_LEVEL does not reach them).
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWE]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    # The TFLite converter and LiteRT, on every conversion and interpreter.
    r"|fully_quantize: \d+, inference_type: "
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
)


def _command(name: str):
    """The function of a heavy command, imported only when it runs."""

    def run(args) -> int:
        from kerasdl import cli

        return getattr(cli, name)(args)

    return run


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit 2.

    argparse prints the whole usage block before the error; the one line
    names the problem and points at `--help` instead (subcommand parsers
    are made by the same class).
    """

    def error(self, message):
        print(
            f"{self.prog}: {_one_line(message)} (see {self.prog} --help)",
            file=sys.stderr,
        )
        sys.exit(2)


def _one_line(text) -> str:
    """A message on one line (YAML errors quote the source over several)."""
    return " ".join(str(text).split())


def make_parser() -> argparse.ArgumentParser:
    """The `kerasdl` argument parser (imports nothing from kerasdl)."""
    parser = _Parser(
        prog="kerasdl", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered architectures")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'res*'")
    p.add_argument("--family", default=None, help="only this family, e.g. resnet")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="hyperparameters of an architecture")
    p.add_argument("name")
    p.set_defaults(func=_command("_cmd_info"))

    p = sub.add_parser("build", help="build a model from a name or spec file")
    p.add_argument("spec", help="architecture name, YAML/JSON spec file or YAML text")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="hyperparameter override (YAML value), repeatable",
    )
    p.add_argument("--summary", action="store_true", help="print the layer summary")
    p.add_argument(
        "--output",
        help="write the model's spec (YAML, or JSON by extension): the short "
        "named form {model: name, **hyperparameters} for a registered name",
    )
    p.add_argument(
        "--expand",
        action="store_true",
        help="with --output: write the full layer graph instead of the named form",
    )
    p.set_defaults(func=_command("_cmd_build"))

    p = sub.add_parser("train", help="data + model + training (+ export) from YAML")
    p.add_argument(
        "config", help="YAML/JSON run config (data, model, training, export)"
    )
    p.add_argument("--no-export", action="store_true", help="skip the export section")
    p.set_defaults(func=_command("_cmd_train"))

    p = sub.add_parser(
        "compress", help="train, compress, export and report from a YAML config"
    )
    p.add_argument(
        "config",
        help="YAML/JSON run config (data, model, training, compression, export)",
    )
    p.add_argument(
        "--output-dir",
        default=None,
        help="writes to OUTPUT_DIR/<name> instead of export.directory",
    )
    p.add_argument(
        "--name",
        default=None,
        help="overrides name (the last part of the output folder)",
    )
    p.set_defaults(func=_command("_cmd_compress"))

    p = sub.add_parser(
        "search",
        help="tune a run config's search parameters with keras-tuner",
    )
    p.add_argument(
        "config",
        help="YAML/JSON run config with {choice: [...]}, {range: [lo, hi]}, "
        "{int: [lo, hi]} values",
    )
    p.add_argument(
        "--algorithm",
        default="random",
        choices=("random", "hyperband", "bayesian"),
        help="keras-tuner oracle (default: random)",
    )
    p.add_argument("--max-trials", type=int, default=10, help="random/bayesian trials")
    p.add_argument("--directory", default="runs/search", help="parent of the project")
    p.add_argument("--project", default=None, help="default: the config's name")
    p.add_argument("--objective", default="val_accuracy", help="history key")
    p.add_argument("--max-epochs", type=int, default=None, help="Hyperband budget")
    p.add_argument("--seed", type=int, default=0, help="the oracle's seed")
    p.add_argument("--overwrite", action="store_true", help="start over")
    p.set_defaults(func=_command("_cmd_search"))

    p = sub.add_parser(
        "quickstart",
        help="train LeNet-5 on offline digits, quantize it to int8 and export it for mobile",
    )
    p.add_argument("--run-dir", default=None, help="default: runs/quickstart")
    p.add_argument("--export-dir", default=None, help="default: savedmodels/quickstart")
    p.add_argument(
        "--min-accuracy",
        type=float,
        default=0.97,
        help="exit non-zero below this test accuracy",
    )
    p.set_defaults(func=_command("_cmd_quickstart"))

    p = sub.add_parser(
        "evaluate",
        help="metrics, calibration, errors with Grad-CAM and file costs, as HTML",
    )
    p.add_argument(
        "model",
        metavar="FILE",
        help="export folder (manifest.json), .keras, .tflite, .onnx or SavedModel",
    )
    p.add_argument(
        "--data", required=True, help=".npz file with arrays x (model inputs) and y"
    )
    p.add_argument(
        "--report-dir", default=None, help="writes report.html and report.json there"
    )
    p.add_argument("--errors", type=int, default=8, help="confidently wrong shown")
    p.add_argument("--latency-runs", type=int, default=20, help="0 skips latency")
    p.add_argument("--no-explain", action="store_true", help="skip Grad-CAM")
    p.set_defaults(func=_command("_cmd_evaluate"))

    p = sub.add_parser(
        "serve", help="serve exported models over HTTP (REST, metrics, drift)"
    )
    p.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="export folder (manifest.json), folder of versions <name>/<version>/, "
        "or folder of model folders",
    )
    p.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--keep-versions", type=int, default=None, help="newest versions kept loaded"
    )
    p.add_argument("--workers", type=int, default=1, help="server processes")
    p.add_argument(
        "--batch-window-ms",
        type=float,
        default=2.0,
        help="dynamic batching window (default 2 ms)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=32,
        help="most instances per model call; 1 turns batching off",
    )
    p.add_argument(
        "--pool-size", type=int, default=2, help="runners per version (threads)"
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="require this key (X-API-Key header); default: $KERASDL_API_KEY",
    )
    p.add_argument(
        "--ab",
        action="append",
        metavar="NAME=V:W,V:W",
        help="A/B split, e.g. lenet5=1:0.9,2:0.1 (repeatable)",
    )
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        help="how often new version folders are looked for",
    )
    p.set_defaults(func=_command("_cmd_serve"))
    return parser


# ------------------------------------------------------------------ list
def _package_dir() -> str:
    """kerasdl's folder, found without importing (running) the package."""
    spec = importlib.util.find_spec("kerasdl")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the kerasdl package is not installed")
    return next(iter(spec.submodule_search_locations))


def load_index() -> list[dict]:
    """The registry index kerasdl/model_index.json (name, family, description)."""
    path = os.path.join(_package_dir(), "model_index.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _cmd_list(args) -> int:
    try:
        index = load_index()
    except OSError:  # an install without the index: ask the live registry
        index = None
    if index is None or "kerasdl.models" in sys.modules:
        # Architectures registered in this process (e.g. by a plugin) too.
        from kerasdl.registry import model_index

        index = model_index()
    families = sorted({entry["family"] for entry in index})
    if args.family is not None and args.family not in families:
        close = difflib.get_close_matches(args.family, families, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(
            f"kerasdl list: unknown family {args.family!r}.{hint} "
            f"Known families: {', '.join(families)}.",
            file=sys.stderr,
        )
        return 2
    pattern = args.pattern.lower()
    rows = [
        entry
        for entry in index
        if fnmatch.fnmatchcase(entry["name"], pattern)
        and (args.family is None or entry["family"] == args.family)
    ]
    if not rows:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    width = max(len(entry["name"]) for entry in rows)
    for entry in rows:
        print(f"{entry['name']:<{width}}  {entry['family']:<13} {entry['description']}")
    return 0


# ------------------------------------------------------------------ quiet
@contextlib.contextmanager
def _filtered_stderr():
    """Forwards file descriptor 2 line by line, dropping the runtimes' noise.

    TensorFlow, the TFLite converter and LiteRT write to the C-level stderr
    (before any log level applies), so a Python filter cannot reach them: fd
    2 goes into a pipe whose reader thread passes every other line on as it
    comes.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forward = os.dup(saved)  # the reader's own copy: `saved` closes first

    def pump():
        with (
            os.fdopen(read_end, "rb") as pipe,
            os.fdopen(forward, "wb", buffering=0) as out,
        ):
            for line in pipe:
                if not _NOISE.match(line.decode("utf-8", "replace")):
                    out.write(line)

    thread = threading.Thread(target=pump, name="kerasdl-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe: the reader drains it and stops
        os.close(saved)
        thread.join(timeout=10)


def quiet() -> None:
    """Log levels and warning filters for a command that imports TensorFlow.

    Sets the log-level variables before TensorFlow is imported (a value the
    user set wins) and ignores the "tf.lite.Interpreter is deprecated"
    warning (kerasdl runs files with LiteRT; the converters still create the
    old interpreter). The lines printed below the log levels are dropped by
    `_filtered_stderr` around the command.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings(
        "ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated"
    )


def main(argv=None) -> int:
    """Runs the command line; returns the exit status."""
    args = make_parser().parse_args(argv)
    if args.command == "list":
        return _run(args)
    quiet()
    with _filtered_stderr():
        return _run(args)


def _run(args) -> int:
    # The error contract: a user's bad input (ValueError, TypeError) or an
    # unreadable path (OSError: missing, a folder, no permission) is one line
    # and exit status 2; anything else is a bug and keeps its traceback.
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:
        print(f"kerasdl {args.command}: {_one_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f" {err.filename!r}" if err.filename else ""
        reason = err.strerror or _one_line(err)
        print(f"kerasdl {args.command}: cannot read{where}: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
