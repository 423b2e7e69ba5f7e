"""builder_args: shared argument tables give a builder a real signature."""

import inspect

import pytest

from kerasdl.models._hparams import Arg, builder_args, builder_sections, doc_sections
from kerasdl.registry import _arg_docs

SHARED = {
    "a": Arg(1, "int. First."),
    "b": Arg(
        (2,),
        "tuple. Second, with a long line that the docstring wraps onto a "
        "continuation line for readers.",
    ),
}


@builder_args(SHARED, c=Arg(None, "str or None. Third."), a=Arg(5, "int. Reworded."))
def _builder(hp):
    """A builder.

    Args:
        {args}

    Returns:
        The bound arguments.
    """
    return hp


pytestmark = pytest.mark.one_backend


def test_signature_binds_like_a_written_out_one():
    params = inspect.signature(_builder).parameters
    # An override keeps its table position and takes its own default.
    assert [(n, p.default) for n, p in params.items()] == [
        ("a", 5),
        ("b", (2,)),
        ("c", None),
    ]
    assert _builder(7, c="x") == {"a": 7, "b": (2,), "c": "x"}
    with pytest.raises(TypeError, match="d"):
        _builder(d=1)
    with pytest.raises(TypeError):
        _builder(1, a=2)


def test_docstring_lists_the_args_for_model_info():
    docs = _arg_docs(_builder)
    assert docs["a"] == "int. Reworded."
    assert docs["b"].startswith("tuple. Second") and docs["b"].endswith("readers.")
    assert docs["c"] == "str or None. Third."
    assert "Returns:" in _builder.__doc__ and "{args}" not in _builder.__doc__
    assert _builder.__name__ == "_builder"


def test_shared_sections_follow_the_args():
    @builder_args(SHARED, sections={"Returns": "A model.", "Raises": "ValueError."})
    def built(hp):
        """Built.

        Args:
            {args}

        Example:
        >>> built()
        """

    doc = inspect.getdoc(built)
    assert doc.index("b: tuple.") < doc.index("Returns:\n    A model.")
    assert doc.index("Raises:\n    ValueError.") < doc.index("Example:")
    assert _arg_docs(built) == {"a": "int. First.", "b": _arg_docs(_builder)["b"]}


def test_doc_sections_go_before_the_example_of_a_written_out_builder():
    @doc_sections(builder_sections("net"))
    def net(width=2):
        """Net.

        Args:
            width: int. Width.

        Example:
        >>> net()
        """

    doc = inspect.getdoc(net)
    assert (
        'Args:\n    width: int. Width.\n\nReturns:\n    A functional `keras.Model` named "net".\n\nRaises:\n    ValueError: if a hyperparameter'
        in doc
    )
    assert doc.index("accepted).\n\nExample:\n>>> net()") > 0
    assert _arg_docs(net) == {"width": "int. Width."}
    with pytest.raises(ValueError, match="Example"):
        doc_sections({})(lambda: None)


def test_a_docstring_without_args_line_is_refused():
    with pytest.raises(ValueError, match="args"):
        builder_args(SHARED)(lambda hp: hp)
