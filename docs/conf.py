"""Sphinx configuration, after the scverse cookiecutter.

Build: ``pip install -e ".[doc]" && sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import shutil
import warnings
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path

from sphinx.deprecation import RemovedInSphinx10Warning
from sphinx.pycode import ModuleAnalyzer

HERE = Path(__file__).parent
ROOT = HERE.parent

# -- Project --------------------------------------------------------------------------------------

project = "scbasis"
author = "scbasis developers"
copyright = f"{datetime.now():%Y}, {author}"
release = package_version("scbasis")
version = release

# -- General --------------------------------------------------------------------------------------

needs_sphinx = "9.0"
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinxcontrib.bibtex",
    "sphinx_autodoc_typehints",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
default_role = "literal"
pygments_style = "default"

# -- API reference (autodoc, autosummary, napoleon, typehints) ------------------------------------

autosummary_generate = True
autodoc_member_order = "groupwise"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True
typehints_defaults = "braces"
# sphinx-autodoc-typehints 3.6 calls an API that Sphinx 9 deprecates, once per docstring; the
# deprecation is the extension's to resolve and says nothing about these docs.
warnings.filterwarnings(
    "ignore", category=RemovedInSphinx10Warning, module="sphinx_autodoc_typehints"
)

# -- Markdown and notebooks (MyST-NB) -------------------------------------------------------------

myst_enable_extensions = ["amsmath", "colon_fence", "deflist", "dollarmath", "html_image"]
myst_heading_anchors = 3
myst_url_schemes = ("http", "https", "mailto")
# The tutorials are rendered with the outputs they were saved with, never executed here.
nb_execution_mode = "off"
nb_output_stderr = "remove"
nb_merge_streams = True

# -- Citations ------------------------------------------------------------------------------------

bibtex_bibfiles = ["references.bib"]
bibtex_reference_style = "author_year"

# -- Intersphinx ----------------------------------------------------------------------------------

# Links into the documentation of the libraries scbasis builds on need their inventories
# (objects.inv), downloaded at build time. An offline build cannot fetch them, and Sphinx reports
# each failed download as a warning, which ``-W`` turns into an error. So the inventories are
# loaded only where the network is known to be there: on Read the Docs (which sets
# READTHEDOCS=True) or when SCBASIS_INTERSPHINX=1; SCBASIS_INTERSPHINX=0 turns them off
# everywhere. Without inventories, references into those projects render as plain code, and
# they produce no warning because ``nitpicky`` is off.
_intersphinx = os.environ.get("SCBASIS_INTERSPHINX", os.environ.get("READTHEDOCS", "0"))
intersphinx_mapping = (
    {
        "python": ("https://docs.python.org/3", None),
        "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
        "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
        "scvi": ("https://docs.scvi-tools.org/en/stable/", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "pandas": ("https://pandas.pydata.org/pandas-docs/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
    }
    if _intersphinx.lower() in {"1", "true"}
    else {}
)

# -- HTML -----------------------------------------------------------------------------------------

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_theme_options = {"navigation_with_keys": False}


# -- Build hooks ----------------------------------------------------------------------------------


def copy_tutorials(app) -> None:
    """Copy the notebooks of ``tutorials/`` into ``docs/tutorials/`` (ignored by git).

    The tutorials live at the top of the repository, where they are run; Sphinx reads only the
    source folder. Copying at the start of every build works from a fresh clone on every
    platform; the folder is emptied first so that a removed tutorial leaves no page behind, and
    ``copy2`` keeps the modification times, so that unchanged notebooks are not read again.
    """
    target = HERE / "tutorials"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
        shutil.copy2(notebook, target / notebook.name)


def skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out the members that scbasis's classes inherit from torch and Lightning.

    scbasis's modules, networks and training plan are torch ``Module`` s and Lightning modules;
    the dozens of methods they inherit from there belong to those libraries' documentation. The
    members scbasis and scvi-tools define (the models' ``get_elbo``,
    ``differential_expression``, ...) are documented.
    """
    if skip:
        return None
    module = _defining_module(obj)
    if module is not None:
        return None if module.startswith(("scbasis", "scvi")) else True
    # a plain attribute does not say where it was defined
    return True if any(hasattr(base, name) for base in _foreign_bases()) else None


def _defining_module(member) -> str | None:
    """The module that defines a function, method or property; ``None`` for other members."""
    if isinstance(member, property):
        member = member.fget
    elif isinstance(member, functools.cached_property):
        member = member.func
    member = inspect.unwrap(getattr(member, "__func__", member))
    return getattr(member, "__module__", None) if inspect.isroutine(member) else None


@functools.cache
def _foreign_bases() -> tuple[type, ...]:
    from lightning.pytorch import LightningModule
    from torch.nn import Module

    return Module, LightningModule


def document_reexported_constants(app, what, name, obj, options, lines) -> None:
    """Give a constant that a package re-exports the ``#:`` comment written where it is defined.

    autodoc reads the comments of the module it documents a constant in (the package's
    ``__init__``), finds none there, and falls back on the docstring of the value's type.
    """
    package_name, _, attribute = name.rpartition(".")
    if what != "data" or not package_name.startswith("scbasis"):
        return
    package = importlib.import_module(package_name)
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        analyzer = ModuleAnalyzer.for_file(str(path), f"{package_name}.{path.stem}")
        comment = analyzer.find_attr_docs().get(("", attribute))
        if comment:
            lines[:] = list(comment)
            return


def setup(app) -> None:
    app.connect("builder-inited", copy_tutorials)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("autodoc-process-docstring", document_reexported_constants)
