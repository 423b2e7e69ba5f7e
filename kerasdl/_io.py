"""Reading YAML/JSON under limits, atomic file and folder writes, plain JSON types.

Every file kerasdl reads from a user (specs, configs, manifests) goes through
`parse_yaml`/`read_yaml`/`read_json`: `yaml.safe_load` semantics (no Python
object tags), plus limits on the text size and on alias expansion, so a
583-byte "billion laughs" file or a self-referencing `&a [*a]` is refused with
a ValueError instead of exhausting memory or the recursion limit later.

Every file kerasdl writes goes through `write_*_atomic` or `atomic_path`
(temp file in the same folder, fsync, `os.replace`), and every output folder
through `staged_folder`/`publish_folder` (build beside it, then rename), so a
reader sees the old or the new content, never half of it.

This module is the ground floor: it imports nothing from kerasdl.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import logging
import os
import pathlib
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import yaml

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "atomic_path",
    "check_tree",
    "json_default",
    "load_yaml",
    "make_parents",
    "parse_yaml",
    "publish_folder",
    "read_config_file",
    "read_json",
    "read_text",
    "read_yaml",
    "recover_folder",
    "remove_stale_files",
    "scratch_folder",
    "staged_folder",
    "to_plain",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

logger = logging.getLogger(__name__)

# Largest YAML/JSON text read (bytes). Specs and configs are kilobytes.
MAX_BYTES = 10 * 1024 * 1024
# Largest document counted with every alias expanded (a billion-laughs file
# expands to 10**9 nodes from 583 bytes; real configs hold thousands).
MAX_NODES = 1_000_000
# Deepest nesting of mappings and lists read (real specs nest about ten deep;
# deeper documents would exhaust the recursion limit of later walks).
MAX_DEPTH = 64

_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


# ------------------------------------------------------------------ reading
class _LimitedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias cycles and documents that expand too far.

    PyYAML composes an alias as a reference to the anchored node, so the
    composed graph stays small; the size explodes (or recurses forever) only
    when the constructed objects are walked later. The check below counts
    the nodes of each composed document as if every alias were expanded,
    memoized per node, so it costs one pass over the distinct nodes.
    """

    max_nodes = MAX_NODES
    max_depth = MAX_DEPTH

    # Nesting is refused while the text is scanned: PyYAML's scanner does
    # work quadratic in the flow nesting depth, and its composer recurses
    # once per level, so a depth check after composing comes too late.
    def fetch_flow_collection_start(self, TokenClass):
        super().fetch_flow_collection_start(TokenClass)
        self._check_depth(self.flow_level)

    def add_indent(self, column):
        added = super().add_indent(column)
        self._check_depth(len(self.indents))
        return added

    def _check_depth(self, depth: int) -> None:
        if depth > self.max_depth:
            mark = self.get_mark()
            raise _LimitError(
                f"the document nests deeper than {self.max_depth} levels of "
                f"mappings and lists (line {mark.line + 1}, column "
                f"{mark.column + 1}); flatten the document."
            )

    def compose_document(self):
        node = super().compose_document()
        _expanded_size(node, self.max_nodes, self.max_depth)
        return node


class _LimitError(ValueError):
    """A document refused by `_LimitedSafeLoader` (message without context)."""


def _expanded_size(root, limit: int, max_depth: int = MAX_DEPTH) -> int:
    return _walk_size(
        root,
        limit,
        max_depth,
        _yaml_children,
        lambda node: (
            f"the node at line {node.start_mark.line + 1}, column "
            f"{node.start_mark.column + 1}"
        ),
    )


def _yaml_children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _python_children(obj) -> list:
    if isinstance(obj, dict):
        return [item for pair in obj.items() for item in pair]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    return []


def _walk_size(root, limit: int, max_depth: int, children_of, where_of) -> int:
    """Counts `root`'s nodes as if shared ones were copied, under limits.

    Memoized per node (by identity), so a value shared a billion times
    through aliases costs one visit; a node found inside itself, a nesting
    deeper than `max_depth` or a count over `limit` raise `_LimitError`.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node, level: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise _LimitError(
                f"{where_of(node)} contains itself through an alias (*name); "
                "recursive documents are not accepted."
            )
        children = children_of(node)
        if not children:
            return 1
        if level >= max_depth:
            raise _LimitError(
                f"{where_of(node)} nests deeper than {max_depth} levels of "
                "mappings and lists; flatten the document."
            )
        in_progress.add(key)
        total = 1
        # Plain recursion is safe: the depth is bounded by `max_depth`.
        for child in children:
            total += size(child, level + 1)
            if total > limit:
                raise _LimitError(
                    f"the document expands to more than {limit:,} nodes once its "
                    "aliases (*name) are expanded; refusing it (alias expansion "
                    "bomb?). Write the values out or split the file."
                )
        in_progress.discard(key)
        sizes[key] = total
        return total

    return size(root, 0)


def check_tree(
    value, where: str, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH
) -> None:
    """Refuses a Python value (a spec or config dict) that a walk could not finish.

    The same limits as for YAML text apply to values given directly: no
    container inside itself, nesting at most `max_depth` deep, and at most
    `max_nodes` nodes counted with shared containers expanded (a dict built
    from a YAML alias bomb by another reader). The walk visits each distinct
    container once.

    Args:
        value: Any. The value to check.
        where: str. What it is, for the error ("spec", "training config").
        max_nodes: int. Most nodes, shared ones counted each time.
        max_depth: int. Deepest nesting of dicts and lists.

    Raises:
        ValueError: naming `where` and the limit exceeded.

    Example:
        >>> check_tree({"epochs": 3}, "training config")
    """
    try:
        _walk_size(
            value,
            max_nodes,
            max_depth,
            _python_children,
            lambda node: f"a {type(node).__name__}",
        )
    except _LimitError as err:
        raise ValueError(f"Refusing {where}: {err}") from None


def _check_size(length: int, where: str, max_bytes: int) -> None:
    if length > max_bytes:
        raise ValueError(
            f"{where} holds {length:,} bytes; the limit is {max_bytes:,} bytes "
            f"(MAX_BYTES = {max_bytes // (1024 * 1024)} MB)."
        )


def parse_yaml(
    text: str,
    where: str = "YAML text",
    max_bytes: int = MAX_BYTES,
    max_nodes: int = MAX_NODES,
) -> Any:
    """Parses YAML text like `yaml.safe_load`, under size and alias limits.

    Args:
        text: str. YAML (or JSON) text.
        where: str. What the text is, for error messages ("spec string").
        max_bytes: int. Largest accepted text, in UTF-8 bytes.
        max_nodes: int. Largest document, counted with aliases expanded.

    Returns:
        The parsed value (None for an empty document).

    Raises:
        ValueError: for unparsable YAML, text over `max_bytes`, recursive
            aliases or alias expansion over `max_nodes`.

    Example:
        >>> parse_yaml("epochs: 3")
        {'epochs': 3}
    """
    if not isinstance(text, str):
        raise ValueError(
            f"Invalid YAML source of type {type(text).__name__}: expected a str."
        )
    # Characters bound bytes from below; encode only when it could matter.
    if len(text) * 4 > max_bytes:
        _check_size(len(text.encode("utf-8")), where, max_bytes)
    loader_class = type("_Loader", (_LimitedSafeLoader,), {"max_nodes": max_nodes})
    try:
        loader = loader_class(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise ValueError(f"Could not parse {where} as YAML: {err}") from None
    except _LimitError as err:
        raise ValueError(f"Refusing {where}: {err}") from None
    except RecursionError:
        raise ValueError(
            f"Could not parse {where} as YAML: it nests too deeply."
        ) from None


def read_text(path, max_bytes: int = MAX_BYTES) -> str:
    """Reads a UTF-8 text file of at most `max_bytes` bytes.

    Args:
        path: str or os.PathLike. The file.
        max_bytes: int. Largest accepted file.

    Returns:
        str: the file's text.

    Raises:
        ValueError: when the file is larger than `max_bytes` or not UTF-8.
        OSError: when it cannot be read.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        # Read one byte past the limit instead of trusting the size on disk
        # (pipes and /proc files report 0).
        data = f.read(max_bytes + 1)
    _check_size(len(data), f"File {path!r}", max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"File {path!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
            "expected a YAML or JSON text file."
        ) from None


def read_yaml(path, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES) -> Any:
    """Reads a YAML (or JSON) file under the limits of `parse_yaml`.

    Args:
        path: str or os.PathLike. The file.
        max_bytes: int. Largest accepted file.
        max_nodes: int. Largest document, counted with aliases expanded.

    Returns:
        The parsed value (None for an empty file).

    Raises:
        ValueError: see `parse_yaml`.
    """
    path = os.fspath(path)
    return parse_yaml(read_text(path, max_bytes), path, max_bytes, max_nodes)


def read_json(path, max_bytes: int = MAX_BYTES) -> Any:
    """Reads a JSON file of at most `max_bytes` bytes.

    Raises:
        ValueError: for invalid JSON or a file over the limit.
    """
    path = os.fspath(path)
    try:
        data = json.loads(read_text(path, max_bytes))
    except json.JSONDecodeError as err:
        raise ValueError(f"Could not parse {path!r} as JSON: {err}") from None
    except RecursionError:
        raise ValueError(
            f"Could not parse {path!r} as JSON: it nests too deeply."
        ) from None
    except UnicodeDecodeError as err:
        raise ValueError(f"Could not read {path!r} as UTF-8 text: {err}") from None
    check_tree(data, repr(path))
    return data


def read_config_file(path, max_bytes: int = MAX_BYTES) -> Any:
    """Reads a config file: `.json` as JSON, anything else as YAML."""
    if os.fspath(path).lower().endswith(".json"):
        return read_json(path, max_bytes)
    return read_yaml(path, max_bytes)


def load_yaml(
    source,
    where: str | None = None,
    max_bytes: int = MAX_BYTES,
    *,
    text_where: str | None = None,
) -> Any:
    """Reads YAML from text or from a file path.

    A path is an `os.PathLike`, or a one-line str ending in `.yaml`, `.yml`
    or `.json` (read as JSON); any other str is YAML text.

    Args:
        source: str or os.PathLike. YAML text or a file path.
        where: str or None. What the source is, for error messages
            ("Spec file": "Spec file 'x.yaml' does not exist.").
        max_bytes: int. Largest accepted text or file.
        text_where: str or None. What YAML text is, for parse errors
            ("spec string"); None uses `where`.

    Returns:
        The parsed value.

    Raises:
        ValueError: for a missing file, unparsable YAML or a limit exceeded.
    """
    if is_config_path(source):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"{where or 'File'} {path!r} does not exist.")
        return read_config_file(path, max_bytes)
    return parse_yaml(source, text_where or where or "YAML text", max_bytes)


def is_config_path(source) -> bool:
    """True for an os.PathLike or a one-line str ending in .yaml/.yml/.json."""
    return isinstance(source, os.PathLike) or (
        isinstance(source, str)
        and "\n" not in source
        and source.lower().endswith(_CONFIG_SUFFIXES)
    )


# ------------------------------------------------------------ plain values
def to_plain(obj) -> Any:
    """Returns a copy of `obj` made of JSON/YAML-plain Python types.

    Dataclasses become dicts, tuples/lists/sets lists, numpy scalars and
    arrays Python numbers and lists, paths strings; dict keys stay as they
    are when plain (str, int, float, bool, None), else become str.

    Example:
        >>> to_plain({"shape": (2, np.int64(3))})
        {'shape': [2, 3]}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {_plain_key(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        items = [to_plain(v) for v in obj]
        with contextlib.suppress(TypeError):
            items.sort()
        return items
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, pathlib.PurePath):
        return os.fspath(obj)
    return obj


def _plain_key(key):
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    return str(key)


def json_default(value):
    """`json.dumps(default=...)`: numpy scalars and arrays become Python values.

    Anything else (sets, arbitrary objects) stays an error, as in `json`:
    what is written must read back as the same value.

    Raises:
        TypeError: for anything but numpy scalars and arrays.

    Example:
        >>> json.dumps({"accuracy": np.float32(0.5)}, default=json_default)
        '{"accuracy": 0.5}'
    """
    if isinstance(value, (np.generic, np.ndarray)):
        return to_plain(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ------------------------------------------------------------ atomic files
def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable; not possible on every platform.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a temp path beside `path`; moves it over `path` on success.

    The temp file does not exist when yielded (some writers, like Keras'
    `model.save`, refuse to overwrite). If the body leaves no file there,
    `path` is left alone; if the body raises, the temp file is removed and
    `path` keeps its old content.

    Args:
        path: str or os.PathLike. Target file; its folder must exist.
        suffix: str. Temp file suffix (writers may check the extension).

    Example:
        >>> with atomic_path("best.keras", suffix=".keras") as tmp:
        ...     model.save(tmp)
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=suffix
    )
    os.close(fd)
    os.remove(tmp)
    try:
        yield tmp
        if os.path.exists(tmp):
            _fsync(tmp)
            os.replace(tmp, path)
            _fsync_dir(directory)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(path, data: bytes) -> None:
    """Writes `data` to `path` so that readers see the old or the new file.

    Args:
        path: str or os.PathLike. Target file; its folder must exist.
        data: bytes. Content.
    """
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)


def write_text_atomic(path, text: str) -> None:
    """Writes `text` as UTF-8, atomically (see `write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path, data, indent: int | None = 1) -> None:
    """Writes `data` as JSON plus a newline, atomically.

    numpy values are converted (see `json_default`); the
    JSON is encoded before the file is touched, so an unencodable value
    leaves the old file as it was.
    """
    text = json.dumps(data, indent=indent, default=json_default)
    write_text_atomic(path, text + "\n")


# ---------------------------------------------------------- atomic folders
def make_parents(path) -> list[str]:
    """Creates the missing ancestors-and-self of `path`; returns them, deepest first.

    The list lets a failed writer remove exactly the folders it created.
    """
    path = os.fspath(path)
    missing = []
    while path and not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        os.mkdir(folder)
    return missing


def _between_renames() -> None:
    """Runs between the two renames of `publish_folder` (a test hook)."""


# Linux renameat2(2): AT_FDCWD, and the flag that swaps two paths atomically.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: str, second: str) -> bool:
    """Swaps two existing paths in one atomic step; False where unsupported.

    Uses Linux's renameat2(RENAME_EXCHANGE); other systems, older kernels
    and file systems without it return False (callers fall back to two
    renames).

    Raises:
        OSError: for any other failure (e.g. permissions).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no C library symbol (old glibc, musl)
        return False
    result = renameat2(
        _AT_FDCWD,
        os.fsencode(first),
        _AT_FDCWD,
        os.fsencode(second),
        _RENAME_EXCHANGE,
    )
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), first, None, second)


def publish_folder(staging, directory) -> None:
    """Moves the finished `staging` folder to `directory` by renames only.

    An existing `directory` is swapped with `staging` in one atomic step
    where the system can (Linux renameat2), so `directory` is never
    missing; the old content, then under the staging name, is deleted
    after. Elsewhere it is renamed aside to ".<name>.old-<id>" first and
    deleted only once the new folder is in place; if the second rename fails
    it is put back. A process killed between the two renames leaves the old
    folder under that name: the next `recover_folder` (every
    `staged_folder` starts with it) renames it back. `staging` must be on
    the same file system (a sibling of `directory`).
    """
    staging, directory = os.fspath(staging), os.fspath(directory)
    if not os.path.exists(directory):
        os.replace(staging, directory)
        return
    if os.path.isdir(directory) and _exchange(staging, directory):
        # A kill before this leaves the old folder under the staging name,
        # which the next recover_folder removes.
        shutil.rmtree(staging, ignore_errors=True)
        return
    parent, base = os.path.split(directory)
    backup = os.path.join(parent, f".{base}.old-{uuid.uuid4().hex[:8]}")
    os.replace(directory, backup)
    try:
        _between_renames()
        os.replace(staging, directory)
    except BaseException:
        os.replace(backup, directory)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _leftovers(parent: str, pattern: str) -> list[str]:
    """Entries of `parent` whose whole name matches `pattern`, oldest first."""
    try:
        names = [n for n in os.listdir(parent) if re.fullmatch(pattern, n)]
    except FileNotFoundError:
        return []
    paths = [os.path.join(parent, n) for n in names]
    return sorted(paths, key=lambda p: os.lstat(p).st_mtime)


def _remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_stale_files(directory, names) -> list[str]:
    """Removes the temp files that `atomic_path` left beside `names`.

    A process killed while writing `directory/<name>` atomically leaves a
    ".<name>.<random><suffix>" file; nothing else is touched.

    Args:
        directory: str or os.PathLike. The folder.
        names: iterable of str. File names written there atomically.

    Returns:
        list of str: the removed paths.

    Example:
        >>> remove_stale_files("runs/a", ["best.keras", "history.json"])
        []
    """
    removed = []
    for name in names:
        pattern = rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}(\.[A-Za-z0-9_.]+)?"
        for path in _leftovers(os.fspath(directory), pattern):
            _remove_path(path)
            removed.append(path)
    return removed


def recover_folder(directory) -> list[str]:
    """Finishes what killed `staged_folder` writes of `directory` left behind.

    If `directory` is missing and a ".<name>.old-<id>" folder exists (a
    publish was killed between its two renames), the newest one is renamed
    back to `directory`. Then the remaining old folders and the staging
    folders of killed writes (".<name>.<tag>-<id>") are deleted. Only one
    writer at a time may write a given folder.

    Args:
        directory: str or os.PathLike. The published folder.

    Returns:
        list of str: what was restored or removed.

    Example:
        >>> recover_folder("savedmodels/mlp")
        []
    """
    parent, base = os.path.split(os.path.abspath(os.fspath(directory)))
    done = []
    olds = _leftovers(parent, rf"\.{re.escape(base)}\.old-[0-9a-f]{{8}}")
    target = os.path.join(parent, base)
    if olds and not os.path.lexists(target):
        os.replace(olds[-1], target)
        logger.warning("Restored %s from %s (a publish was killed).", target, olds[-1])
        done.append(olds[-1])
    # Also the folders of a write nested in a killed one's staging folder
    # (compress exports into its own staging): "..<name>.<tag>-<id>.<tag>-<id>".
    write = r"\.[a-z_]+-[0-9a-f]{8}"
    name = re.escape(base)
    killed = rf"\.{name}{write}|\.\.{name}{write}{write}"
    for path in _leftovers(parent, killed):
        _remove_path(path)
        logger.info("Removed %s, left by a killed write of %s.", path, target)
        done.append(path)
    return done


@contextlib.contextmanager
def scratch_folder(directory, tag: str = "scratch") -> Iterator[str]:
    """Yields an empty work folder beside `directory`, deleted on exit.

    Beside the target rather than in the system temp folder: a process
    killed while using it leaves ".<name>.<tag>-<id>", which the next
    `staged_folder` of `directory` removes (`recover_folder`). The parent of
    `directory` must exist (enter `staged_folder` first).

    Args:
        directory: str or os.PathLike. The folder being written.
        tag: str. Part of the folder's name.

    Example:
        >>> with staged_folder(out) as staging, scratch_folder(out) as tmp:
        ...     convert(model, staging, work_dir=tmp)
    """
    parent, base = os.path.split(os.path.realpath(os.fspath(directory)))
    scratch = os.path.join(parent, f".{base}.{tag}-{uuid.uuid4().hex[:8]}")
    os.mkdir(scratch)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(
    directory, tag: str = "staging", create: bool = True
) -> Iterator[str]:
    """Yields a staging folder beside `directory`; publishes it on success.

    Missing parents of `directory` are created; what killed writes of
    `directory` left is recovered or removed first (`recover_folder`). A
    `directory` that is a symlink is written through: the folder it points
    to is replaced and the link stays a link. If the body raises, the
    staging folder and the parents created here are removed and an existing
    `directory` is left untouched.

    Args:
        directory: str or os.PathLike. The folder to write.
        tag: str. Part of the staging folder's name (".<name>.<tag>-<id>").
        create: bool. Whether to create the staging folder (False when the
            body creates it, e.g. by exporting into it).

    Example:
        >>> with staged_folder("savedmodels/mlp", tag="export") as staging:
        ...     write_text_atomic(os.path.join(staging, "a.txt"), "new")
    """
    # Through a symlink: the folder it points to is replaced, the link stays.
    directory = os.path.realpath(os.fspath(directory))
    parent, base = os.path.split(directory)
    created = make_parents(parent)
    recover_folder(directory)
    # Not tempfile.mkdtemp: its 0o700 mode would become the folder's mode.
    staging = os.path.join(parent, f".{base}.{tag}-{uuid.uuid4().hex[:8]}")
    try:
        if create:
            os.mkdir(staging)
        yield staging
        publish_folder(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # deepest first; stops at a folder in use
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise
