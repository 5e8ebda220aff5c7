"""The API reference lists every public name: each name in a package's ``__all__`` has an
autosummary entry in the documentation's sources (read as text; no Sphinx build)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

import scbasis

DOCS = Path(__file__).resolve().parents[1] / "docs"
_DIRECTIVE = re.compile(r"^\.\. ([\w:-]+)::\s*(\S*)")


def autosummary_entries() -> set[str]:
    """The full names of the autosummary entries of every page under ``docs/``."""
    entries = set()
    for page in sorted(DOCS.glob("*.md")) + sorted(DOCS.glob("*.rst")):
        current, in_autosummary = "", False
        for line in page.read_text(encoding="utf-8").splitlines():
            directive = _DIRECTIVE.match(line.strip())
            if directive:
                name, argument = directive.groups()
                if name in ("currentmodule", "module"):
                    current = argument
                in_autosummary = name == "autosummary"
            elif in_autosummary and line.startswith((" ", "\t")):
                item = line.strip()
                if item and not item.startswith(":"):  # skip the directive's options
                    entries.add(f"{current}.{item.lstrip('~')}" if current else item)
            elif line.strip() and not line.startswith((" ", "\t")):
                in_autosummary = False
    return entries


def public_names(package: ModuleType) -> set[str]:
    """``package.__all__`` as full names, less its subpackages (checked on their own)."""
    return {
        f"{package.__name__}.{name}"
        for name in package.__all__
        if not isinstance(getattr(package, name), ModuleType)
    }


SUBPACKAGES = [name for name in scbasis.__all__ if isinstance(getattr(scbasis, name), ModuleType)]


@pytest.mark.parametrize("package", ["scbasis", *(f"scbasis.{name}" for name in SUBPACKAGES)])
def test_every_public_name_is_in_the_api_reference(package):
    missing = public_names(importlib.import_module(package)) - autosummary_entries()
    assert not missing, f"add these to an autosummary table in docs/api.md: {sorted(missing)}"


def test_every_api_entry_is_public():
    documented = set().union(
        public_names(scbasis),
        *(public_names(importlib.import_module(f"scbasis.{name}")) for name in SUBPACKAGES),
    )
    stale = autosummary_entries() - documented
    assert not stale, f"not in any __all__ (renamed or removed?): {sorted(stale)}"
