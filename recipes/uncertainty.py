"""Recipe of the shipped default's uncertainty calibration (its card's "uncertainty").

The default, as trained (``recipes/default.py``), localises blobs simulated
(1 to 10 sources, 0 to 30 dB, white noise;
:class:`mne_piunet.training.CalibrationConfig`'s defaults) on the template
head seen by electrodes and conductivities it was not trained with (the
64-channel BioSemi layout; brain, skull and scalp 0.33, 0.0041, 0.33 S/m),
so that the rules anticipate an unseen head, and its uncertainty rules are
fitted to them (:func:`mne_piunet.training.calibrate_uncertainty`); the
weights do not change. About 6 minutes on 2 CPU cores::

    python recipes/uncertainty.py --out piunet-default.safetensors
"""

import argparse

from mne_piunet.template import make_template_forward
from mne_piunet.training import calibrate_uncertainty

MONTAGE, CONDUCTIVITY = "biosemi64", (0.33, 0.0041, 0.33)


def calibration_forward():
    """Return the template head with other electrodes and conductivities."""
    return make_template_forward(MONTAGE, conductivity=CONDUCTIVITY)


def main():
    """Calibrate the default and write it (``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the model file to write")
    args = parser.parse_args()
    model = calibrate_uncertainty("default", calibration_forward())
    model.save(args.out, overwrite=True)
    print(f"Saved {model!r} to {args.out}")


if __name__ == "__main__":
    main()
