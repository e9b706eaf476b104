"""The default's calibrated uncertainty, checked against the truth.

(a) The held-out grid on the sample head (``mne-piunet benchmark --n-sources 1
    2 3 5 10 --extent 0.010 0.030 --seed 16 --n-samples 20``, the same
    samples; never used to fit the calibration, which saw the template):
    Spearman correlation of each map's expected nEMD
    (``apply_piunet(..., return_uncertainty=True)``) with its actual nEMD,
    pooled over 0 / 10 / 20 dB and per cell; for single sources, how often
    the credible regions hold the true centre at each level, and the 90 %
    region's volume next to eLORETA's (its map's 90 % of mass, and its map
    raised to the power that holds the centre 90 % of the time on this
    very grid: the best eLORETA could be calibrated to).
(b) The sample subject's real visual responses (EEG, the recording's noise
    covariance): the expected nEMD and the 90 % region's volume in the
    baseline and over the response (80-200 ms).

Writes a Markdown report, a CSV of the samples and the calibration plot::

    MNE_PIUNET_TESTING_DATA=../shared/data python benchmarks/uncertainty.py \
        --out doc/benchmark-uncertainty
"""

import argparse
import csv
from pathlib import Path

import mne
import numpy as np
from mne.minimum_norm import apply_inverse, make_inverse_operator
from scipy.stats import spearmanr

from mne_piunet import apply_piunet, make_piunet_operator
from mne_piunet._inverse import INDEPENDENT_SAMPLES
from mne_piunet._sensors import forward_eeg_info, white_noise_variances
from mne_piunet._uncertainty import credible_mask
from mne_piunet.benchmark import BenchmarkConfig
from mne_piunet.datasets import load_sample_head
from mne_piunet.metrics import normalized_emd
from mne_piunet.simulation import forward_source_positions, simulate_blobs

GRID = BenchmarkConfig(
    n_sources=(1, 2, 3, 5, 10), extent=(0.010, 0.030), seed=16, n_samples=20
)
SCORED_SNR = (0.0, 10.0, 20.0)  # the grid the targets are set on
LEVELS = np.round(np.arange(0.1, 0.96, 0.05), 2)
POWERS = np.exp(np.linspace(0, np.log(64), 60))  # for eLORETA's best region
VOXEL_CM3 = 0.7**3  # a 7 mm source point


def centre_rank(probability, centre):
    """Mass ahead of the true centre: covered at level L when below L."""
    return float(probability[probability > probability[centre]].sum())


def held_out_grid(model, head):
    """One row per sample: nEMD, expected nEMD, single sources' centre ranks."""
    forward = head.forward
    info = forward_eeg_info(forward)
    cov = mne.make_ad_hoc_cov(info, verbose=False)
    op = make_piunet_operator(info, forward, cov, model=model, verbose=False)
    inv = make_inverse_operator(info, forward, cov, loose=1.0, verbose=False)
    positions = forward_source_positions(forward)
    rng = np.random.default_rng(GRID.seed)
    rows = []
    for k in GRID.n_sources:
        for snr in GRID.snr_db:
            batch = simulate_blobs(  # the benchmark's samples: same random stream
                forward, GRID.n_samples, k, snr_db=snr, extent=GRID.extent, seed=rng
            )
            truth = batch.sources.numpy()
            noise = white_noise_variances(
                forward["sol"]["data"], truth, batch.snr_db.numpy()
            )
            scale = np.sqrt(cov.data[0] / noise)
            evoked = mne.EvokedArray(batch.sensors.numpy().T * scale, info, tmin=0)
            stc, unc = apply_piunet(
                evoked,
                op,
                pick_ori="vector",
                return_uncertainty=True,
                verbose=False,
                **INDEPENDENT_SAMPLES,
            )
            eloreta = apply_inverse(
                evoked, inv, GRID.lambda2, "eLORETA", pick_ori="vector", verbose=False
            )
            el_amp = np.linalg.norm(eloreta.data, axis=1)
            el_amp /= el_amp.max(axis=0)  # powers up to 64 stay in range
            prob = unc.probability.data
            region = credible_mask(prob, 0.9).sum(axis=0)
            for i in range(len(truth)):
                row = dict(
                    n_sources=k,
                    snr_db=snr,
                    nemd=normalized_emd(
                        truth[i], stc.data[:, :, i], positions, resolution=0.014
                    ),
                    expected_nemd=float(unc.expected_nemd[i]),
                    region90_cm3=region[i] * VOXEL_CM3,
                )
                if k == 1:
                    centre = int(batch.centers[i, 0])
                    row["rank"] = centre_rank(prob[:, i], centre)
                    row["el_ranks"] = [
                        centre_rank(_normalised(el_amp[:, i] ** p), centre)
                        for p in POWERS
                    ]
                    row["el_sizes"] = [
                        credible_mask(_normalised(el_amp[:, [i]] ** p), 0.9).sum()
                        * VOXEL_CM3
                        for p in POWERS
                    ]
                rows.append(row)
            print(k, snr, f"{np.median([r['nemd'] for r in rows[-20:]]):.3f}")
    return rows


def _normalised(values):
    return values / values.sum(axis=0)


def spearman_report(rows):
    """Lines: pooled and per-cell Spearman correlations."""
    scored = [r for r in rows if r["snr_db"] in SCORED_SNR]
    rho = spearmanr([r["expected_nemd"] for r in scored], [r["nemd"] for r in scored])[
        0
    ]
    every = spearmanr([r["expected_nemd"] for r in rows], [r["nemd"] for r in rows])[0]
    lines = [
        f"Spearman correlation of expected and actual nEMD, 1-10 sources, "
        f"0 / 10 / 20 dB ({len(scored)} maps): {rho:.2f} "
        f"(with 5 and 30 dB, {len(rows)} maps: {every:.2f})",
        "",
        "| sources | " + " | ".join(f"{s:g} dB" for s in GRID.snr_db) + " |",
        "|---|" + "---|" * len(GRID.snr_db),
    ]
    for k in GRID.n_sources:
        cells = []
        for snr in GRID.snr_db:
            cell = [r for r in rows if r["n_sources"] == k and r["snr_db"] == snr]
            cells.append(
                spearmanr(
                    [r["expected_nemd"] for r in cell], [r["nemd"] for r in cell]
                )[0]
            )
        lines.append(f"| {k} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return lines


def coverage_report(rows):
    """Lines and the coverage curve: single sources' credible regions."""
    single = [r for r in rows if r["n_sources"] == 1]
    ranks = np.array([r["rank"] for r in single])
    observed = np.array([np.mean(ranks < level) for level in LEVELS])
    el_ranks = np.array([r["el_ranks"] for r in single])
    el_cover = (el_ranks < 0.9).mean(axis=0)
    best = int(np.flatnonzero(el_cover >= 0.9).max())  # the sharpest at 90 %
    el_sizes = np.array([r["el_sizes"] for r in single])
    lines = [
        f"Single sources ({len(single)} maps, 0-30 dB): the 90 % credible "
        f"region holds the true centre in {observed[LEVELS == 0.9][0]:.0%} "
        "of the maps.",
        "",
        "| SNR (dB) | centre in the 90 % region | its volume (cm³), median | "
        "eLORETA's 90 % of mass: centre in it, volume | eLORETA's map to the "
        f"power {POWERS[best]:.1f}: centre in it, volume |",
        "|---|---|---|---|---|",
    ]
    for snr in GRID.snr_db:
        idx = [i for i, r in enumerate(single) if r["snr_db"] == snr]
        lines.append(
            f"| {snr:g} | {np.mean(ranks[idx] < 0.9):.0%} | "
            f"{np.median([single[i]['region90_cm3'] for i in idx]):.0f} | "
            f"{np.mean(el_ranks[idx, 0] < 0.9):.0%}, "
            f"{np.median(el_sizes[idx, 0]):.0f} | "
            f"{np.mean(el_ranks[idx, best] < 0.9):.0%}, "
            f"{np.median(el_sizes[idx, best]):.0f} |"
        )
    lines += ["", "| level | " + " | ".join(f"{lv:.2f}" for lv in LEVELS) + " |"]
    lines += ["|---|" + "---|" * len(LEVELS)]
    lines += ["| observed | " + " | ".join(f"{o:.2f}" for o in observed) + " |"]
    return lines, observed


def real_report(model):
    """Lines: expected nEMD and region volume on the real visual responses."""
    lines = [
        "| condition | expected nEMD, baseline | over 80-200 ms | "
        "90 % region (cm³), baseline | over 80-200 ms |",
        "|---|---|---|---|---|",
    ]
    for condition in ("Left visual", "Right visual"):
        head = load_sample_head(condition=condition)
        _, unc = apply_piunet(
            head.evoked,
            head.forward,
            model,
            head.noise_cov,
            return_uncertainty=True,
            verbose=False,
        )
        times = head.evoked.times
        windows = (times < 0, (times >= 0.08) & (times <= 0.2))
        size = unc.credible_region(0.9).data.sum(axis=0) * VOXEL_CM3
        expected = [np.median(unc.expected_nemd[w]) for w in windows]
        volume = [np.median(size[w]) for w in windows]
        lines.append(
            f"| {condition} | {expected[0]:.2f} | {expected[1]:.2f} | "
            f"{volume[0]:.0f} | {volume[1]:.0f} |"
        )
    return lines


def plot_calibration(observed, fname):
    """Nominal against observed coverage of the credible regions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, label="calibrated")
    ax.plot(LEVELS, observed, "o-", label="3D-PIUNet, single sources")
    ax.set(
        xlabel="nominal credibility of the region",
        ylabel="share of maps whose region holds the true centre",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Credible regions, unseen head",
    )
    ax.legend(loc="upper left")
    fig.savefig(fname, dpi=100)


def main():
    """Run both parts and write the report (``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", default="benchmark-uncertainty")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = held_out_grid(args.model, load_sample_head())
    with open(out / "sample-head.csv", "w", newline="") as f:
        keys = ["n_sources", "snr_db", "nemd", "expected_nemd", "region90_cm3", "rank"]
        writer = csv.DictWriter(f, keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    coverage, observed = coverage_report(rows)
    plot_calibration(observed, out / "calibration.png")
    lines = [
        "## The default's uncertainty, sample head (held-out grid)",
        "",
        f"`python benchmarks/uncertainty.py --model {args.model} --out {args.out}`",
        "",
        *spearman_report(rows),
        "",
        *coverage,
        "",
        "Real visual responses (EEG, the recording's noise covariance):",
        "",
        *real_report(args.model),
    ]
    (out / "uncertainty.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
