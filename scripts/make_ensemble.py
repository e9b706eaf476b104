"""Combine trained models into one ensemble model (how the default is made).

The shipped default is the mean of two networks' maps: the 0.44 M-parameter
model fine-tuned for real recordings (registered as ``"small"``) and the
1.8 M-parameter large model fine-tuned with focal sources weighed like wide
ones (``train_large_balanced.py``; the best weights of its run, kept in
training/large-balanced/). The small one keeps many sources apart and follows
the real visual responses; the large one places focal sources (see the
benchmarks and real-data pages). Run from the repository root:

    python scripts/make_ensemble.py small training/large-balanced/model.safetensors
        --out mne_piunet/data/piunet-default.safetensors --overwrite
"""

import argparse

import mne_piunet
from mne_piunet import read_model


def make_ensemble(names, weights=None):
    """Read the models ``names`` and return their ensemble (cards name sources)."""
    model = mne_piunet.make_ensemble([read_model(name) for name in names], weights)
    for name, card in zip(names, model.info["ensemble"]["members"], strict=True):
        card["source"] = str(name)
    return model


def main():
    """Combine the models named on the command line and save the ensemble."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="model names or files")
    parser.add_argument("--weights", type=float, nargs="+", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    model = make_ensemble(args.models, args.weights)
    model.save(args.out, overwrite=args.overwrite)
    print(model)


if __name__ == "__main__":
    main()
