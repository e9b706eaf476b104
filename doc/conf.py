"""Sphinx configuration of the mne-piunet documentation.

Builds offline: no intersphinx inventories are fetched. The examples need
the offline sample data (``MNE_PIUNET_TESTING_DATA``).
"""

import os

import mne

import mne_piunet

project = "mne-piunet"
copyright = "2026, the mne-piunet developers"
release = version = mne_piunet.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
exclude_patterns = [
    "_build",
    "benchmark*/*.md",
    "performance_results.md",
    "robustness_results.md",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
html_theme = "pydata_sphinx_theme"
html_theme_options = {"navigation_with_keys": False}
html_static_path = []
plot_html_show_source_link = False
plot_html_show_formats = False
nitpicky = False

mne.set_log_level("warning")
os.environ.setdefault("MNE_3D_BACKEND", "notebook")  # never open a window
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}
