"""Recipe of the shipped "eeg-meg" model: the default with its large network on EEG+MEG.

As the "meg" model (``recipes/meg.py``: the same configuration, head
positions and step count, another seed), with the sample recording's 60
EEG electrodes beside its 306 MEG sensors: the default's second network
(``large-balanced``) goes on training from its EEG weights on the fsaverage
template seen by all 366 channels at six head positions (the electrodes
stay on the scalp, the MEG sensors move around the head). The model is the
mean of the default's first network (``small``, as it ships) and this one.

The step count is the one the shipped network ran (3,000 steps, 45 minutes
on one CPU thread)::

    export MNE_PIUNET_TESTING_DATA=/path/to/data  # holds sample/
    python recipes/eeg_meg.py --out piunet-eeg-meg.safetensors --time-limit 3600

Run it again until it writes ``--out``: a running stage resumes from its
checkpoint.
"""

import dataclasses

from meg import MEG_LARGE, train_and_save

EEG_MEG_LARGE = dataclasses.replace(MEG_LARGE, seed=44)
STAGES = [("eeg-meg-large", EEG_MEG_LARGE, "default:1")]
# the ensemble: the default's first network as it ships, then this stage
MEMBERS = ("default:0", "eeg-meg-large")


def main():
    """Train the EEG+MEG stage and write the ensemble (``--out``)."""
    train_and_save(__doc__, STAGES, MEMBERS, eeg=True)


if __name__ == "__main__":
    main()
