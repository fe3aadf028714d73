"""The engine never imports the user interface, so a headless worker stays light."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "engine.stack",
    "engine.operations",
    "engine.workflows",
    "engine.activities",
    "engine.runtime",
    "engine.services",
]


def test_engine_imports_no_ui_library() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in ENGINE_MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui'))\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_cli_loads_textual_only_for_the_dashboard() -> None:
    code = "import sys, tui.cli; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
