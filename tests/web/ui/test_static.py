# SPDX-License-Identifier: AGPL-3.0-or-later
"""The vendored front-end libraries are the pinned, hashed files of LOCK.json."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from socialdesk.web.templating import STATIC_DIR

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "vendor_assets.py"


@pytest.fixture
def vendor_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/vendor_assets.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("vendor_assets", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def test_vendored_files_match_the_lock(
    vendor_script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vendor_script.main(["--check"]) == 0
    lock = json.loads((STATIC_DIR / "vendor" / "LOCK.json").read_text())
    packages = {entry["package"]: entry["version"] for entry in lock}
    assert packages["htmx.org"].startswith("2.0.")
    assert packages["alpinejs"].startswith("3.")
    assert "match LOCK.json" in capsys.readouterr().out


def test_check_notices_a_changed_file(
    vendor_script: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = vendor_script
    copy = tmp_path / "vendor"
    shutil.copytree(STATIC_DIR / "vendor", copy)
    (copy / "htmx.min.js").write_text("alert('tampered')")
    monkeypatch.setattr(script, "VENDOR_DIR", copy)
    monkeypatch.setattr(script, "LOCK_FILE", copy / "LOCK.json")
    assert script.main(["--check"]) == 1
    assert "htmx.min.js does not match" in capsys.readouterr().out
