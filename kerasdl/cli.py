"""The `kerasdl` command line: list, info, build, train, compress and quickstart."""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from kerasdl._io import parse_yaml, write_json_atomic, write_text_atomic


def _parse_value(text: str):
    """Parses a --set value as YAML (numbers, lists, booleans); never code."""
    return parse_yaml(text, where=f"--set value {text!r}")


def _cmd_list(args) -> int:
    from kerasdl.registry import get_entry, list_models

    names = list_models(args.pattern, family=args.family)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    for name in names:
        entry = get_entry(name)
        print(f"{name:<{width}}  {entry.family:<13} {entry.description}")
    return 0


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
        if not sep:
            print(f"--set expects KEY=VALUE; received {item!r}", file=sys.stderr)
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
        spec = kerasdl.to_spec(model)
        if args.output.endswith(".json"):
            write_json_atomic(args.output, spec)
        else:
            write_text_atomic(args.output, yaml.safe_dump(spec, sort_keys=False))
        print(f"spec written to {args.output}")
    return 0


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


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerasdl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered architectures")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'res*'")
    p.add_argument("--family", default=None)
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="hyperparameters of an architecture")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)

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
        "--output", help="write the model's spec (YAML, or JSON by extension)"
    )
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("train", help="data + model + training (+ export) from YAML")
    p.add_argument(
        "config", help="YAML/JSON run config (data, model, training, export)"
    )
    p.add_argument("--no-export", action="store_true", help="skip the export section")
    p.set_defaults(func=_cmd_train)

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
    p.set_defaults(func=_cmd_compress)

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
    p.set_defaults(func=_cmd_quickstart)
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"kerasdl {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
