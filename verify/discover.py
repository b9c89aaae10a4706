"""Which spec files a list of command-line paths names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "ASL_SUFFIXES",
    "DEFAULT_SPEC_DIR",
    "SPEC_SUFFIXES",
    "EmptyFolder",
    "MissingPath",
    "NotAFile",
    "discover",
    "is_asl_name",
    "is_template_name",
]

DEFAULT_SPEC_DIR = Path("specs")
SPEC_SUFFIXES = (".yaml", ".yml")
ASL_SUFFIXES = (".asl.json", ".asl.yaml", ".asl.yml")
"""The names of Amazon States Language definitions (AWS Step Functions)."""


TEMPLATE_NAMES = re.compile(r"(?:.*[.-])?template\.(?:ya?ml|json)", re.IGNORECASE)
"""The names of SAM and CloudFormation templates (``template.yaml``, ``app.template.json``),
read for the state machines they hold."""


def is_template_name(path: Path) -> bool:
    """True for a file named as a SAM or CloudFormation template."""
    return TEMPLATE_NAMES.fullmatch(path.name) is not None


def is_asl_name(path: Path) -> bool:
    """True for a file named as an ASL definition (``*.asl.json``, ``*.asl.yaml``, ...)."""
    return path.name.lower().endswith(ASL_SUFFIXES)


class MissingPath(Exception):
    """A path named on the command line does not exist (or names no spec at all)."""

    def __init__(self, path: Path, message: str | None = None) -> None:
        super().__init__(message or f"no such file or directory: {path}")
        self.path = path


class EmptyFolder(MissingPath):
    """A folder named on the command line holds no spec file: checking nothing must not
    pass silently in CI."""

    def __init__(self, path: Path, asl: bool = False) -> None:
        suffixes = ", ".join(f"*{s}" for s in SPEC_SUFFIXES + (ASL_SUFFIXES if asl else ()))
        super().__init__(
            path, f"no spec files ({suffixes}) in {path}; name a spec file or a folder of them"
        )


class NotAFile(MissingPath):
    """A path named on the command line is neither a folder nor a regular file: a device
    such as ``/dev/zero`` would be read for ever, a FIFO would wait for a writer."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            f"{path} is not a regular file (a device, FIFO or socket); "
            "name a spec file or a folder of them",
        )


def discover(paths: Sequence[Path] = (), *, asl: bool = False) -> list[Path]:
    """The spec files named by ``paths`` (default: ``specs/``), in a stable order.

    A file is taken as it is, whatever its suffix. A folder contributes the ``*.yaml`` and
    ``*.yml`` files directly inside it, sorted by name; its subfolders are not searched, so
    ``specs/examples/`` stays out of the default run unless named, and so do entries that
    are not regular files. A file named twice (under any name) is checked once. Raises
    :class:`MissingPath` for a path that does not exist, :class:`EmptyFolder` for a folder
    without a spec file in it and :class:`NotAFile` for a device, FIFO or socket.

    An ASL definition in a folder (``*.asl.json``, ``*.asl.yaml``, ``*.asl.yml``) is taken
    only with ``asl``, by the commands that read ASL.
    """
    found: list[Path] = []
    for path in paths or (DEFAULT_SPEC_DIR,):
        if path.is_dir():
            specs = list(_specs_in(path, asl))
            if not specs:
                raise EmptyFolder(path, asl)
            found.extend(specs)
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise NotAFile(path)
        else:
            raise MissingPath(path)
    unique: dict[tuple[int, int], Path] = {}
    for path in found:  # one file under two names (./a.yaml, a link to it) is checked once
        status = path.stat()
        unique.setdefault((status.st_dev, status.st_ino), path)
    return list(unique.values())


def _specs_in(folder: Path, asl: bool = False) -> Iterable[Path]:
    def wanted(path: Path) -> bool:
        return asl if is_asl_name(path) else path.suffix in SPEC_SUFFIXES

    return sorted(p for p in folder.iterdir() if wanted(p) and p.is_file())
