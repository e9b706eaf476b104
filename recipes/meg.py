"""Recipe of the shipped "meg" model: the default with its large network on MEG.

The default is the mean of two networks (``recipes/default.py``). For MEG,
its second network (``large-balanced``) goes on training from its EEG
weights, with its own configuration, on the fsaverage template head seen by
the 306 MEG sensors of the MNE sample recording (Elekta Neuromag
Vectorview: 204 planar gradiometers, 102 magnetometers;
``make_template_forward(info)``, the template's approximated inner skull as
BEM). The head sits at six positions in the helmet: the recording's and
five drawn around it (seeded; shifts up to 8 mm, rotations up to 8 degrees
about each axis); each batch is simulated through one of them, the
coloured-noise covariances spread over them. The model is the mean of the
default's first network (``small``, as it ships) and this one: fine-tuning
``small`` too made the maps of several sources and of the real responses
worse (see the benchmarks page).

The step count is the one the shipped network ran (3,000 steps, 46 minutes
on one CPU thread)::

    export MNE_PIUNET_TESTING_DATA=/path/to/data  # holds sample/
    python recipes/meg.py --out piunet-meg.safetensors --time-limit 3600

Run it again until it writes ``--out``: a running stage resumes from its
checkpoint.
"""

import dataclasses

import mne
import numpy as np
from _run import parse_args, run_stages
from default import LARGE_BALANCED

from mne_piunet import read_model
from mne_piunet._model import ENSEMBLE_SHARED, ensemble_with_info, split_ensemble
from mne_piunet.datasets import testing_data_path
from mne_piunet.template import make_template_forward

N_POSITIONS, SHIFT, ANGLE = 6, 0.008, 8.0  # head positions: metres, degrees
GRID = (24, 28, 24)  # the default's grid (7 mm)


def _meg_stage(config, n_steps, seed):
    """Return a network's configuration, continued on MEG from its EEG weights."""
    return dataclasses.replace(
        config,
        grid_shape=GRID,
        noise=dataclasses.replace(config.noise, n_covariances=12),
        n_steps=n_steps,
        lr=1e-4,
        val_samples=128,
        val_every=250,
        patience=4,
        seed=seed,
    )


MEG_LARGE = _meg_stage(LARGE_BALANCED, n_steps=3000, seed=43)
STAGES = [("meg-large", MEG_LARGE, "default:1")]
# the ensemble: the default's first network as it ships, then the MEG stage
MEMBERS = ("default:0", "meg-large")


def sample_meg_info(*, eeg=False):
    """Return the sample recording's MEG info (sensors, device-to-head transform).

    With ``eeg=True``, its EEG electrodes too.
    """
    root = testing_data_path()
    if root is None:
        raise FileNotFoundError("Set MNE_PIUNET_TESTING_DATA to the folder of sample/")
    info = mne.io.read_info(root / "sample" / "MEG" / "test-ave.fif.gz", verbose=False)
    return mne.pick_info(info, mne.pick_types(info, meg=True, eeg=eeg, exclude=[]))


def head_positions(info, n=N_POSITIONS, seed=0):
    """``info`` and ``n - 1`` copies with the head moved inside the helmet."""
    rng = np.random.default_rng(seed)
    infos = [info]
    for _ in range(n - 1):
        move = mne.transforms.rotation(*np.deg2rad(rng.uniform(-ANGLE, ANGLE, 3)))
        move[:3, 3] = rng.uniform(-SHIFT, SHIFT, 3)
        moved = info.copy()
        with moved._unlock():  # no public setter for dev_head_t
            moved["dev_head_t"] = mne.transforms.Transform(
                "meg", "head", move @ info["dev_head_t"]["trans"]
            )
        infos.append(moved)
    return infos


def make_forwards(*, eeg=False):
    """Template forwards at each head position (cached after the first run)."""
    infos = head_positions(sample_meg_info(eeg=eeg))
    return [make_template_forward(info) for info in infos]


def shipped_start(name):
    """Return a shipped ensemble's network: ``"default:1"``, the default's second."""
    model, position = name.split(":")
    return split_ensemble(read_model(model))[int(position)]


def train_and_save(description, stages, members, *, eeg=False):
    """Train the stage and write the ensemble ``members`` (``--out``).

    The stage trains on the template forwards of the sample recording's MEG
    sensors (and, with ``eeg``, its electrodes) at each head position.
    """
    args = parse_args(description)
    stages = [(name, config, shipped_start(start)) for name, config, start in stages]
    trained = run_stages(stages, args, make_forwards(eeg=eeg))
    if trained is None:  # stopped by the time limit: run again
        return
    networks = [shipped_start(members[0]), trained]
    # the card's head model is the trained network's; the EEG network keeps its own
    shared = {key: trained.info[key] for key in ENSEMBLE_SHARED}
    model = ensemble_with_info(networks, None, shared)
    for name, card in zip(members, model.info["ensemble"]["members"], strict=True):
        card["source"] = name
    model.save(args.out, overwrite=True)
    print(f"Saved {model!r} to {args.out}")


def main():
    """Train the MEG stage and write the ensemble (``--out``)."""
    train_and_save(__doc__, STAGES, MEMBERS)


if __name__ == "__main__":
    main()
