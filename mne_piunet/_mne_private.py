"""The private MNE-Python functions mne-piunet relies on, looked up in one place.

MNE does not promise to keep private names. Every one the package uses is
listed here and looked up when mne-piunet is imported, so an MNE release that
moves one fails at once with a message naming it, instead of deep inside a
computation.
"""

import importlib

import mne

#: MNE versions the private names below were checked against.
TESTED_MNE = ">=1.6, tested up to 1.13"


def lookup(name, module):
    """Return ``module.name`` or raise an ImportError that says what to do."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ImportError(
            f"mne-piunet needs {module}.{name} from MNE-Python (MNE {TESTED_MNE}), "
            f"which MNE {mne.__version__} does not have. Install a tested MNE "
            "version or an mne-piunet release made for this one."
        ) from None


# kernel as apply_inverse uses it
assemble_kernel = lookup("_assemble_kernel", "mne.minimum_norm.inverse")
# apply_inverse's reference check
check_reference = lookup("_check_reference", "mne.minimum_norm.inverse")
# the stc class apply_inverse returns
make_stc = lookup("_make_stc", "mne.source_estimate")
# normals as apply_inverse
get_src_nn = lookup("_get_src_nn", "mne.source_space._source_space")
# BEM from surfaces held in memory
surfaces_to_bem = lookup("_surfaces_to_bem", "mne.bem")
ico_downsample = lookup("_ico_downsample", "mne.bem")
# solid angles: is a point inside a surface
get_solids = lookup("_get_solids", "mne.surface")
BaseSourceEstimate = lookup("_BaseSourceEstimate", "mne.source_estimate")
check_option = lookup("_check_option", "mne.utils")
validate_type = lookup("_validate_type", "mne.utils")
ensure_int = lookup("_ensure_int", "mne.utils")
check_src_normal = lookup("_check_src_normal", "mne.utils")


def source_space_subject(src):
    """Return the subject of a source space (what ``src._subject`` gives)."""
    return src[0].get("subject_his_id")
