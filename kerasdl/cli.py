"""The `kerasdl` command line: list, info and build models."""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml


def _parse_value(text: str):
    """Parses a --set value as YAML (numbers, lists, booleans); never code."""
    return yaml.safe_load(text)


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
    print(f"{model.name}: {model.count_params():,} parameters "
          f"(input {model.input_shape}, output {model.output_shape})")
    if args.output:
        spec = kerasdl.to_spec(model)
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            if args.output.endswith(".json"):
                json.dump(spec, f, indent=1)
            else:
                yaml.safe_dump(spec, f, sort_keys=False)
        os.replace(tmp, args.output)  # never a half-written spec file
        print(f"spec written to {args.output}")
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
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="hyperparameter override (YAML value), repeatable")
    p.add_argument("--summary", action="store_true", help="print the layer summary")
    p.add_argument("--output", help="write the model's spec (YAML, or JSON by extension)")
    p.set_defaults(func=_cmd_build)
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
