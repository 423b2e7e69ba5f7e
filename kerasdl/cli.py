"""The `kerasdl` commands that need Keras: info, build, train, compress, search, quickstart.

The parser, `--help` and `kerasdl list` live in the launcher `kerasdl_cli`
(outside this package, so they answer without importing Keras); it imports
this module only for the command it runs.
"""

from __future__ import annotations

import os
import sys

import yaml

from kerasdl._checks import short_repr
from kerasdl._io import parse_yaml, write_json_atomic, write_text_atomic


def _parse_value(text: str):
    """Parses a --set value as YAML (numbers, lists, booleans); never code."""
    return parse_yaml(text, where=f"--set value {short_repr(text)}")


def _options(args, *names) -> dict:
    """The parsed options `names` as keyword arguments of the same names (the
    command's options are named like the API function's arguments)."""
    return {name: getattr(args, name) for name in names}


def _cmd_info(args) -> int:
    from kerasdl.registry import model_info

    info = model_info(args.name)
    print(f"{info['name']} ({info['family']}): {info['description']}")
    if info["presets"]:
        print(f"fixed: {info['presets']}")
    for key, hp in info["hyperparameters"].items():
        print(f"  {key} = {hp['default']!r}: {hp['doc']}")
    return 0


def _cmd_build(args) -> int:
    import kerasdl

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            print(
                f"kerasdl build: --set expects KEY=VALUE with KEY a "
                f"hyperparameter name; received {short_repr(item)}",
                file=sys.stderr,
            )
            return 2
        overrides[key] = _parse_value(value)
    model = kerasdl.build(args.spec, **overrides)
    if args.summary:
        model.summary(print_fn=lambda line, **_: print(line))
    print(
        f"{model.name}: {model.count_params():,} parameters "
        f"(input {model.input_shape}, output {model.output_shape})"
    )
    if args.output:
        spec = _named_spec(args.spec, overrides)
        if spec is None or args.expand:
            spec = kerasdl.to_spec(model)
        if args.output.endswith(".json"):
            write_json_atomic(args.output, spec)
        else:
            write_text_atomic(args.output, yaml.safe_dump(spec, sort_keys=False))
        print(f"spec written to {args.output}")
    return 0


def _named_spec(source, overrides: dict) -> dict | None:
    """{model: name, **hyperparameters} when `source` names an architecture."""
    from kerasdl.registry import get_entry
    from kerasdl.spec import load_spec

    spec = source
    if isinstance(source, str):
        try:
            get_entry(source)
            spec = {"model": source}
        except ValueError:
            spec = load_spec(source)
    if isinstance(spec, str):
        spec = {"model": spec}
    if not (isinstance(spec, dict) and "model" in spec):
        return None  # a layer list or graph: written out in full
    return {**spec, "model": get_entry(spec["model"]).name, **overrides}


def _print_result(result, title: str) -> None:
    from kerasdl.workflow import summary_rows

    rows = summary_rows(result)
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 50))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    run_dir = result.config.get("training", {}).get("run_dir")
    if run_dir:
        print(f"\nrun directory: {run_dir} (config, best.keras, history, curves.png)")
    if result.manifest is not None:
        directory = result.config["export"]["directory"]
        print(f"exported to: {directory} (manifest.json)")


def _cmd_train(args) -> int:
    from kerasdl.workflow import train

    result = train(args.config, export=not args.no_export)
    _print_result(result, f"kerasdl train {args.config}")
    return 0


def _cmd_compress(args) -> int:
    from kerasdl.compression.pipeline import compress
    from kerasdl.runconfig import load_run_config

    config = load_run_config(args.config, "compress")
    if args.name is not None:
        config["name"] = args.name
    if args.output_dir is not None or args.name is not None:
        # The output folder is <parent>/<name>; either option replaces a part.
        parent = args.output_dir
        if parent is None:
            parent = os.path.dirname(config["export"]["directory"])
        config["export"]["directory"] = os.path.join(parent, config["name"])
    result = compress(config)
    print(f"\nkerasdl compress {args.config}")
    for record in result.steps:
        print(
            f"step {record['step']}: {record['nonzero_parameters']:,} of "
            f"{record['parameters']:,} parameters non-zero"
        )
    print()
    print(result.report.table())
    print(f"\nwritten to: {result.directory} (manifest.json, report.json, report.md)")
    return 0


def _cmd_search(args) -> int:
    from kerasdl.search.tune import tune

    result = tune(
        args.config,
        args.algorithm,
        **_options(
            args,
            "max_trials",
            "directory",
            "project",
            "objective",
            "max_epochs",
            "seed",
            "overwrite",
        ),
    )
    print(f"\nkerasdl search {args.config} ({args.algorithm})")
    for row in result.rows:
        values = ", ".join(
            f"{k}={v!r}"
            for k, v in row.items()
            if k in result.parameters and v is not None
        )
        print(
            f"trial {row['trial']}: {args.objective}={row[args.objective]:.4f} "
            f"params={row.get('parameters')} epochs={row.get('epochs')} "
            f"{row.get('seconds', 0):.1f}s  {values}"
        )
    if not result.files:
        print("worker done (the chief writes the results)")
        return 0
    print(f"\nbest {args.objective}: {result.best_score:.4f} with {result.best_values}")
    print(f"epochs trained in total: {result.total_epochs}")
    files = result.files
    print(f"results: {files['csv']}, {files['json']}, {files['png']}")
    return 0


def _cmd_quickstart(args) -> int:
    from kerasdl.workflow import quickstart

    result = quickstart(run_dir=args.run_dir, export_dir=args.export_dir)
    _print_result(result, "kerasdl quickstart: LeNet-5 on offline digits")
    accuracy = result.test_metrics.get("accuracy", 0.0)
    if accuracy < args.min_accuracy:
        print(
            f"test accuracy {accuracy:.4f} is below the expected "
            f"{args.min_accuracy:.2f}",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_evaluate(args) -> int:
    from kerasdl.evaluation import evaluate

    report = evaluate(
        args.model,
        args.data,
        explain=not args.no_explain,
        **_options(args, "report_dir", "errors", "latency_runs"),
    )
    print(f"\nkerasdl evaluate {args.model}: {report['samples']} examples")
    print(
        f"accuracy {report['accuracy']:.4f}  macro F1 {report['macro']['f1']:.4f}  "
        f"ECE {report['calibration']['ece']:.4f}"
    )
    for entry in report["files"]:
        latency = entry.get("latency")
        timing = f"  p50 {latency['p50_ms']:.2f} ms" if latency else ""
        print(
            f"{entry['name']:>16}: {entry['bytes']:>10,} bytes  accuracy "
            f"{entry['accuracy']:.4f}  agreement {entry['agreement']:.4f}{timing}"
        )
    if args.report_dir:
        print(f"report: {os.path.join(args.report_dir, 'report.html')}")
    return 0


def _parse_ab(items) -> dict:
    """--ab NAME=V:W,V:W options as {name: {version: weight}}."""
    splits = {}
    for item in items or []:
        name, sep, rest = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            weights = {}
            for part in rest.split(","):
                version, _, weight = part.partition(":")
                weights[version.strip()] = float(weight)
        except ValueError:
            raise ValueError(
                f"--ab expects NAME=VERSION:WEIGHT,VERSION:WEIGHT; received {item!r}."
            ) from None
        splits[name] = weights
    return splits


def _cmd_serve(args) -> int:
    from kerasdl.serve import create_app, run

    settings = {
        "dirs": list(args.dirs),
        "keep_versions": args.keep_versions,
        "batch_window_ms": args.batch_window_ms,
        "max_batch": args.max_batch,
        "pool_size": args.pool_size,
        "api_key": args.api_key or os.environ.get("KERASDL_API_KEY") or None,
        "poll_seconds": args.poll_seconds,
        "ab": _parse_ab(args.ab),
    }
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1; received {args.workers}.")
    # Built here even with several workers: a bad folder fails before forking.
    app = create_app(
        settings["dirs"], **{k: v for k, v in settings.items() if k != "dirs"}
    )
    print(
        f"kerasdl serve: {', '.join(sorted(app.state.repository.models))} on "
        f"http://{args.host}:{args.port} ({args.workers} worker(s))",
        flush=True,
    )
    run(app, host=args.host, port=args.port, workers=args.workers, settings=settings)
    return 0


def main(argv=None) -> int:
    """Runs the command line (the launcher's `main`); returns the exit status."""
    from kerasdl_cli import main as launcher_main

    return launcher_main(argv)
