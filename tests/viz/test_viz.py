"""kerasdl.viz draws on its own Agg canvases: no pyplot, no global backend."""

import ast
import pathlib
import subprocess
import sys

import kerasdl

SCRIPT = """
import sys
import matplotlib
matplotlib.use("svg")  # a caller's choice that the library must keep
from kerasdl.viz import plot_attention, plot_history
plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, sys.argv[1] + "/c.png")
plot_attention([[0.9, 0.1], [0.3, 0.7]], ["a", "b"], ["x", "y"], sys.argv[1] + "/a.png")
print(matplotlib.get_backend())
"""


def test_plots_keep_the_callers_matplotlib_backend(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["svg"]
    for name in ("c.png", "a.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_library_code_never_uses_pyplot_or_switches_the_backend():
    # Keras itself imports pyplot, so a sys.modules check cannot tell; read
    # the source instead.
    found = []
    for path in pathlib.Path(kerasdl.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                module = getattr(node, "module", None) or ""
                if "matplotlib.pyplot" in names or module == "matplotlib.pyplot":
                    found.append(f"{path}:{node.lineno} imports pyplot")
                if module == "matplotlib" and "pyplot" in names:
                    found.append(f"{path}:{node.lineno} imports pyplot")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "use"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "matplotlib"
            ):
                found.append(f"{path}:{node.lineno} calls matplotlib.use")
    assert not found, found
