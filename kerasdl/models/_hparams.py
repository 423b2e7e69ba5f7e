"""Hyperparameters that several builders share, written once.

A family's builders often take the same arguments (every recurrent builder
takes `cell`, `units`, `bidirectional`, ...). Written out per builder, the
signature lines and the Args lines of the docstring are copies that drift
apart. Here each shared argument is one `Arg` (default and Args line) in a
table, and `builder_args` gives a builder its arguments from tables:

    RECURRENT = {"cell": Arg("lstm", "str. Recurrent cell ...")}

    @builder_args(RECURRENT, num_classes=Arg(10, "int. Number of classes."))
    def classifier(hp):
        '''A classifier.

        Args:
            {args}
        '''
        return build(hp["cell"], hp["num_classes"])

The decorated builder is an ordinary function to its callers: positional
and keyword calls bind as they would to the written-out signature (an
unknown argument is a TypeError), `inspect.signature` shows every argument
with its default (the registry checks presets and lists hyperparameters from
it), and the docstring's `{args}` line holds the Args lines in signature
order (the registry's `model_info` reads them).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["BUILDER_RAISES", "Arg", "builder_args", "builder_sections", "doc_sections"]

# Docstring lines are wrapped to the project's line length.
_WIDTH = 88

#: What a builder raises for an invalid argument (its Raises section).
BUILDER_RAISES = (
    "ValueError: if a hyperparameter is invalid (the message names it, the value "
    "received and what is accepted)."
)


@dataclasses.dataclass(frozen=True)
class Arg:
    """One builder argument: its default and its Args line (type first)."""

    default: Any
    doc: str


def _args_doc(table: Mapping[str, Arg], indent: str) -> str:
    """The Google-style Args lines of `table`, indented like `{args}`."""
    lines = []
    for name, arg in table.items():
        lines.extend(
            textwrap.wrap(
                f"{name}: {arg.doc}",
                width=_WIDTH,
                initial_indent=indent,
                subsequent_indent=indent + "    ",
            )
        )
    return "\n".join(lines)


def _sections_lines(sections: Mapping[str, str], indent: str) -> list[str]:
    """Docstring sections ({"Returns": text, ...}), each after a blank line;
    `indent` is the indentation of their text."""
    lines = []
    for title, text in sections.items():
        lines += ["", f"{indent[:-4]}{title}:"]
        lines += textwrap.wrap(
            text, width=_WIDTH, initial_indent=indent, subsequent_indent=indent + "    "
        )
    return lines


def _fill_doc(doc: str, table: Mapping[str, Arg], sections: Mapping[str, str]) -> str:
    """Replaces the line holding only `{args}` by the Args lines of `table`,
    followed by `sections` ({"Returns": text, ...}) after the Args section."""
    lines = doc.split("\n")
    for i, line in enumerate(lines):
        if line.strip() == "{args}":
            indent = line[: len(line) - len(line.lstrip())]
            filled = [_args_doc(table, indent), *_sections_lines(sections, indent)]
            lines[i] = "\n".join(filled)
            return "\n".join(lines)
    raise ValueError("a builder_args docstring needs a line holding only {args}")


def builder_sections(name: str, raises: str = BUILDER_RAISES) -> dict[str, str]:
    """The Returns and Raises sections of builder `name` (a functional model
    of that name), for `builder_args(sections=...)` or `doc_sections`."""
    return {"Returns": f'A functional `keras.Model` named "{name}".', "Raises": raises}


def doc_sections(sections: Mapping[str, str]) -> Callable[[Callable], Callable]:
    """Decorator for a builder with a written-out signature: adds `sections`
    to its docstring after the Args section (before "Example:").

    Raises:
        ValueError: if the docstring has no "Example:" line to insert before.
    """

    def decorate(fn: Callable) -> Callable:
        lines = (fn.__doc__ or "").split("\n")
        for i, line in enumerate(lines):
            if line.strip() == "Example:":
                indent = line[: len(line) - len(line.lstrip())] + "    "
                # The sections end with a blank line before "Example:".
                added = _sections_lines(sections, indent)[1:] + [""]
                fn.__doc__ = "\n".join(lines[:i] + added + lines[i:])
                return fn
        raise ValueError(f"{fn.__name__}'s docstring has no Example: line")

    return decorate


def builder_args(
    *tables: Mapping[str, Arg],
    sections: Mapping[str, str] | None = None,
    **args: Arg,
) -> Callable[[Callable[[dict], Any]], Callable[..., Any]]:
    """Decorator: a builder's arguments from shared tables, in order.

    Args:
        *tables: dicts {name: Arg}, in signature order.
        sections: dict or None. Docstring sections that follow Args, as
            {"Returns": text, "Raises": text}: text that a family's builders
            share (each builder's own sections stay in its docstring).
        **args: more `Arg`s after the tables; a name already in a table
            replaces that entry in place (same position, its own default and
            Args line), so a builder can reword one shared argument.

    Returns:
        A decorator for `fn(hp)`, which receives the bound arguments as a dict
        (defaults applied) and returns what the builder returns.

    Raises:
        ValueError: if the docstring has no `{args}` line.
    """
    table: dict[str, Arg] = {}
    for group in tables:
        table.update(group)
    table.update(args)
    signature = inspect.Signature(
        [
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=arg.default
            )
            for name, arg in table.items()
        ]
    )

    def decorate(fn: Callable[[dict], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def builder(*call_args, **call_kwargs):
            try:
                bound = signature.bind(*call_args, **call_kwargs)
            except TypeError as err:
                # Named like Python's own message for a written-out signature.
                raise TypeError(f"{fn.__name__}() {err}") from None
            bound.apply_defaults()
            return fn(dict(bound.arguments))

        builder.__signature__ = signature
        builder.__doc__ = _fill_doc(fn.__doc__ or "", table, sections or {})
        return builder

    return decorate
