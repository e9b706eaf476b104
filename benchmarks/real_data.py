"""Real-data validation: the sample visual evoked responses and semi-real ERPs.

(a) The MNE sample subject's Left and Right visual evoked EEG (baseline
    corrected, average reference, 7 mm volume on the subject's real 3-layer
    BEM), with the recording's noise covariance and with an ad-hoc one:
    response (80-200 ms) / baseline contrast of the map maximum, its
    correlation with the EEG GFP, the share of samples where the maximum jumps
    more than 20 mm, where the mean map over 80-200 ms peaks, and how much
    of the whitened data (the recording's covariance) the estimate's forward
    projection explains (median over 80-200 ms).
(b) Semi-real ERPs on the same head: ERP-shaped time courses in one or two
    blobs plus noise drawn from the recording's real covariance (peak GFP SNR
    2 to 5), inverted with that covariance: baseline contrast, time-course
    correlation at the true source, peak error, explained variance at the
    peak (whitened).
(c) With ``--cortex``: the real responses of (a) on the fsaverage cortex with
    the recording's own electrodes (a user without an MRI): where the mean
    map over 80-200 ms peaks, and how the map maximum follows the GFP.
(d) With ``--meg``: the four responses (left/right auditory and visual) of
    the 306 MEG channels (and, with ``--meg --eeg``, the 366 MEG and EEG
    channels) on the 7 mm volume, both covariances: where the mean map over
    80-200 ms peaks in each hemisphere, and how the map maximum follows the
    GFP of the whitened data; and the semi-real ERPs of (b) with the MEG
    channels and their real noise covariance (SNR as the whitened data's RMS).

PIUNet next to eLORETA everywhere. Writes a Markdown table, a CSV and a
figure::

    MNE_PIUNET_TESTING_DATA=../shared/data python benchmarks/real_data.py \
        --out doc/real-data
"""

import argparse
import csv
import warnings
from pathlib import Path

import mne
import numpy as np
from mne.minimum_norm import apply_inverse, make_inverse_operator

from mne_piunet import apply_piunet, read_model
from mne_piunet._grid import forward_source_positions
from mne_piunet._physics import make_init_kernel
from mne_piunet._sensors import covariance_root, eeg_mask, reference_eeg
from mne_piunet.datasets import load_sample_head
from mne_piunet.simulation import EvokedSimulationConfig, simulate_evoked
from mne_piunet.template import make_template_forward

WINDOW = (0.08, 0.2)
LAMBDA2 = 1.0 / 9.0


def _gfp(evoked):
    data = evoked.copy().pick("eeg").apply_proj().data
    return data.std(axis=0)


def _amplitudes(stc):
    """Source amplitude (n_sources, n_times) of any estimate."""
    data = stc.data
    return np.linalg.norm(data, axis=1) if data.ndim == 3 else np.abs(data)


def trace_metrics(amp, times, gfp, positions):
    """Contrast, GFP correlation, jumps and mean-map peak of a map series."""
    peak = amp.max(axis=0)
    response = (times >= WINDOW[0]) & (times <= WINDOW[1])
    baseline = times < 0
    where = positions[amp.argmax(axis=0)]
    jumps = np.linalg.norm(np.diff(where, axis=0), axis=1) > 0.020
    mean_map = amp[:, response].mean(axis=1)
    return dict(
        contrast=peak[response].mean() / peak[baseline].mean(),
        gfp_corr=np.corrcoef(peak, gfp)[0, 1],
        jump_share=jumps.mean(),
        peak_x_mm=1e3 * positions[mean_map.argmax(), 0],
        peak_y_mm=1e3 * positions[mean_map.argmax(), 1],
    )


def recording_whitener(info, forward, noise_cov, nave=1):
    """Return the noise whitener (with projectors) the init uses for a recording.

    It depends on the covariance, not on the inverse method, so the cheap
    minimum-norm kernel gives it.
    """
    kernel = make_init_kernel(
        info, forward, noise_cov, lambda2=LAMBDA2, method="MNE", nave=nave
    )
    return kernel.whitener


def explained_variance(evoked, forward, data, whitener):
    """Share of the whitened data that an estimate's forward projection explains.

    Per time point; ``data`` are the estimate's vector moments
    (n_sources, 3, n_times).
    """
    sensors = whitener @ evoked.copy().apply_proj(verbose=False).data
    predicted = whitener @ forward["sol"]["data"] @ data.reshape(-1, data.shape[-1])
    residual = ((sensors - predicted) ** 2).sum(axis=0)
    return 1 - residual / (sensors**2).sum(axis=0)


def _estimates(evoked, forward, model, cov, op_cov, options):
    """PIUNet (``apply_piunet`` with ``options``) and eLORETA vector estimates."""
    piunet = apply_piunet(
        evoked, forward, model, op_cov, pick_ori="vector", verbose=False, **options
    )
    inv = make_inverse_operator(evoked.info, forward, cov, loose=1.0, verbose=False)
    eloreta = apply_inverse(
        evoked, inv, LAMBDA2, "eLORETA", pick_ori="vector", verbose=False
    )
    return {"PIUNet": piunet, "eLORETA": eloreta}


def _covariances(head):
    """(name, covariance of eLORETA, covariance given to PIUNet), real and ad-hoc."""
    adhoc = mne.make_ad_hoc_cov(head.evoked.info, verbose=False)
    return (("real", head.noise_cov, head.noise_cov), ("ad-hoc", adhoc, None))


def real_part(model, heads, options):
    """Metrics of PIUNet and eLORETA on the real responses, both covariances.

    Returns the rows and, per (condition, covariance), the times, the GFP and
    each method's map maximum over time (for the figure).
    """
    rows, traces = [], {}
    for condition, head in heads.items():
        evoked = head.evoked
        positions = forward_source_positions(head.forward)
        # the recording's noise, for the estimates of both covariances
        whitener = recording_whitener(
            evoked.info, head.forward, head.noise_cov, evoked.nave
        )
        response = (evoked.times >= WINDOW[0]) & (evoked.times <= WINDOW[1])
        for cov_name, cov, op_cov in _covariances(head):
            stcs = _estimates(evoked, head.forward, model, cov, op_cov, options)
            gfp = _gfp(evoked)
            traces[condition, cov_name] = dict(times=evoked.times, GFP=gfp)
            for method, stc in stcs.items():
                amp = _amplitudes(stc)
                traces[condition, cov_name][method] = amp.max(axis=0)
                row = trace_metrics(amp, evoked.times, gfp, positions)
                ev = explained_variance(evoked, head.forward, stc.data, whitener)
                row["explained_var"] = float(np.median(ev[response]))
                rows.append(
                    dict(condition=condition, cov=cov_name, method=method, **row)
                )
                print(rows[-1], flush=True)
    return rows, traces


def plot_traces(traces, fname):
    """Map maximum of each method and the GFP over time, each scaled to 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2, 2, figsize=(10, 6), sharex=True, sharey=True, layout="constrained"
    )
    for ax, ((condition, cov), trace) in zip(axes.ravel(), traces.items(), strict=True):
        times = 1e3 * trace["times"]
        for name, color in (("GFP", "k"), ("eLORETA", "C0"), ("PIUNet", "C3")):
            ax.plot(times, trace[name] / trace[name].max(), color=color, label=name)
        ax.axvspan(1e3 * WINDOW[0], 1e3 * WINDOW[1], color="0.92", zorder=0)
        ax.set(title=f"{condition}, {cov} covariance", xlabel="time (ms)")
    axes[0, 0].set_ylabel("map maximum / GFP\n(each scaled to 1)")
    axes[0, 0].legend(loc="upper left")
    fig.savefig(fname, dpi=80)


def _hemisphere_peaks(amp, times, positions):
    """MRI-frame position (mm) of the mean map's maximum in each hemisphere."""
    response = (times >= WINDOW[0]) & (times <= WINDOW[1])
    mean_map = amp[:, response].mean(axis=1)
    out = {}
    for hemi, side in (("lh", positions[:, 0] < 0), ("rh", positions[:, 0] > 0)):
        best = np.flatnonzero(side)[mean_map[side].argmax()]
        for axis, value in zip("xyz", 1e3 * positions[best], strict=True):
            out[f"{hemi}_{axis}_mm"] = value
        out[f"{hemi}_share"] = mean_map[best] / mean_map.max()
    return out


def meg_part(model, eeg, options):
    """Score the four MEG (or MEG and EEG) responses, both covariances."""
    rows = []
    for condition in ("Left Auditory", "Right Auditory", "Left visual", "Right visual"):
        head = load_sample_head(condition=condition, meg=True, eeg=eeg, verbose=False)
        evoked, forward = head.evoked, head.forward
        positions = forward_source_positions(forward)
        whitener = recording_whitener(evoked.info, forward, head.noise_cov, evoked.nave)
        gfp = np.sqrt(((whitener @ evoked.data) ** 2).mean(axis=0))  # whitened
        for cov_name, cov, op_cov in _covariances(head):
            stcs = _estimates(evoked, forward, model, cov, op_cov, options)
            for method, stc in stcs.items():
                amp = _amplitudes(stc)
                row = trace_metrics(amp, evoked.times, gfp, positions)
                row.update(_hemisphere_peaks(amp, evoked.times, positions))
                rows.append(
                    dict(condition=condition, cov=cov_name, method=method, **row)
                )
                print(rows[-1], flush=True)
    return rows


def cortex_part(model, heads, options):
    """Score the real responses on the fsaverage cortex, recording electrodes.

    As a user without an MRI would: the template forward on the cortex with
    the digitised electrode positions (:func:`make_template_forward`), both
    covariances; where the mean map over 80-200 ms peaks (x > 0: right
    hemisphere; y < -60 mm: occipital) and how the map maximum follows the
    GFP.
    """
    montage = next(iter(heads.values())).evoked.get_montage()  # same in both
    forward = make_template_forward(montage, source_space="surface", verbose=False)
    positions = forward_source_positions(forward)
    rows = []
    for condition, head in heads.items():
        evoked = head.evoked
        for cov_name, cov, op_cov in _covariances(head):
            stcs = _estimates(evoked, forward, model, cov, op_cov, options)
            for method, stc in stcs.items():
                row = trace_metrics(
                    _amplitudes(stc), evoked.times, _gfp(evoked), positions
                )
                rows.append(
                    dict(condition=condition, cov=cov_name, method=method, **row)
                )
                print(rows[-1], flush=True)
    return rows


def _noise_colour(cov, info):
    cov = cov.copy().pick_channels(info["ch_names"], ordered=True)
    return covariance_root(cov.data)


def semi_real_part(model, head, n_samples, seed, options):
    """Metrics on simulated ERPs in the real noise of the recording."""
    rng = np.random.default_rng(seed)
    info = head.evoked.info
    fwd = head.forward
    positions = forward_source_positions(fwd)
    colour = _noise_colour(head.noise_cov, info)
    whitener = recording_whitener(info, fwd, head.noise_cov)
    config = EvokedSimulationConfig(extent=(0.005, 0.015), latency=(0.08, 0.2))
    eeg = eeg_mask(info)
    if eeg.all():  # the EEG's GFP
        gfp = lambda x: x.std(axis=0)  # noqa: E731
    else:  # MEG: the RMS of the whitened data
        gfp = lambda x: np.sqrt(((whitener @ x) ** 2).mean(axis=0))  # noqa: E731
    rows = []
    for k in range(n_samples):
        n_sources = int(rng.integers(1, 3))
        stc_true, clean = simulate_evoked(
            fwd,
            info,
            n_sources,
            config=config,
            snr_db=None,
            tmin=-0.2,
            tmax=0.5,
            seed=rng,
        )
        noise = reference_eeg(colour @ rng.standard_normal(clean.data.shape), eeg)
        gfp_signal = gfp(clean.data)
        target = rng.uniform(2, 5)  # peak GFP over noise GFP (RMS)
        noise *= gfp_signal.max() / target / np.sqrt((gfp(noise) ** 2).mean())
        evoked = mne.EvokedArray(clean.data + noise, clean.info, tmin=clean.times[0])
        stcs = _estimates(evoked, fwd, model, head.noise_cov, head.noise_cov, options)
        true_amp = _amplitudes(stc_true)
        true_src = true_amp.max(axis=1).argmax()
        t_peak = gfp_signal.argmax()
        response = gfp_signal > 0.5 * gfp_signal.max()
        for method, stc in stcs.items():
            amp = _amplitudes(stc)
            times = evoked.times
            peak = amp.max(axis=0)
            rows.append(
                dict(
                    sample=k,
                    method=method,
                    n_sources=n_sources,
                    snr=target,
                    contrast=peak[response].mean() / peak[times < 0].mean(),
                    tc_corr=np.corrcoef(amp[true_src], true_amp[true_src])[0, 1],
                    peak_error_mm=1e3
                    * np.linalg.norm(
                        positions[amp[:, t_peak].argmax()] - positions[true_src]
                    ),
                    explained_var=explained_variance(evoked, fwd, stc.data, whitener)[
                        t_peak
                    ],
                )
            )
        print(f"semi-real sample {k + 1}/{n_samples}", flush=True)
    return rows


def _median_table(rows, keys, metrics):
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    lines = ["| " + " | ".join(keys + metrics) + " |"]
    lines.append("|" + "---|" * (len(keys) + len(metrics)))
    for key, group in groups.items():
        values = [f"{np.median([r[m] for r in group]):.3g}" for m in metrics]
        lines.append("| " + " | ".join(list(map(str, key)) + values) + " |")
    return "\n".join(lines)


def main():
    """Run both parts and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--n-samples", type=int, default=20, help="semi-real ERPs")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", default="doc/real-data", help="output folder")
    parser.add_argument(
        "--smoothing",
        type=float,
        default=0.02,
        help="apply_piunet's smoothing in seconds (0: none)",
    )
    parser.add_argument(
        "--pattern-smoothing",
        type=float,
        default=0.04,
        help="apply_piunet's pattern_smoothing in seconds (0: none)",
    )
    parser.add_argument("--blend", type=float, default=0.0, help="apply_piunet's blend")
    parser.add_argument(
        "--cortex",
        action="store_true",
        help="the real responses on the fsaverage cortex (part c) instead",
    )
    parser.add_argument(
        "--meg",
        action="store_true",
        help="the four MEG responses (part d) instead; add --eeg for MEG and EEG",
    )
    parser.add_argument("--eeg", action="store_true", help="with --meg: add EEG")
    args = parser.parse_args()
    options = dict(
        smoothing=args.smoothing,
        pattern_smoothing=args.pattern_smoothing,
        blend=args.blend,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = read_model(args.model, verbose=False)
    heads = {
        cond: load_sample_head(condition=cond, verbose=False)
        for cond in ("Left visual", "Right visual")
    }
    header = (
        f"Model: {args.model}, smoothing: {args.smoothing} s, "
        f"pattern smoothing: {args.pattern_smoothing} s, blend: {args.blend}"
    )
    if args.meg:
        # the EEG-trained model meets MEG on purpose: that is what is measured
        warnings.filterwarnings("ignore", "The model was trained on EEG data")
        rows = meg_part(model, args.eeg, options)
        name = "meg-eeg" if args.eeg else "meg"
        head = load_sample_head(meg=True, eeg=args.eeg, verbose=False)
        semi = semi_real_part(model, head, args.n_samples, args.seed, options)
        _write_csv(rows, out / f"{name}.csv")
        _write_csv(semi, out / f"{name}-semi-real.csv")
        text = [header, "", f"Real sample evoked responses, {name}:", ""]
        text.append(
            _median_table(
                rows,
                ["condition", "cov", "method"],
                ["contrast", "gfp_corr", "peak_x_mm", "peak_y_mm"]
                + [f"{h}_{a}" for h in ("lh", "rh") for a in ("y_mm", "z_mm", "share")],
            )
        )
        text += ["", f"Semi-real ERPs ({args.n_samples} samples, medians):", ""]
        text.append(
            _median_table(
                semi,
                ["method"],
                ["contrast", "tc_corr", "peak_error_mm", "explained_var"],
            )
        )
        (out / f"{name}.md").write_text("\n".join(text) + "\n")
        print("\n".join(text))
        return
    if args.cortex:
        rows = cortex_part(model, heads, options)
        _write_csv(rows, out / "cortex.csv")
        text = [
            header,
            "",
            "Real sample visual evoked responses, fsaverage cortex:",
            "",
        ]
        text.append(
            _median_table(
                rows,
                ["condition", "cov", "method"],
                ["contrast", "gfp_corr", "jump_share", "peak_x_mm", "peak_y_mm"],
            )
        )
        (out / "cortex.md").write_text("\n".join(text) + "\n")
        print("\n".join(text))
        return
    real, traces = real_part(model, heads, options)
    plot_traces(traces, out / "traces.png")
    semi = semi_real_part(
        model, heads["Left visual"], args.n_samples, args.seed, options
    )
    for name, rows in (("real", real), ("semi-real", semi)):
        _write_csv(rows, out / f"{name}.csv")
    text = [header, "", "Real sample visual evoked responses:", ""]
    text.append(
        _median_table(
            real,
            ["condition", "cov", "method"],
            ["contrast", "gfp_corr", "jump_share", "peak_y_mm", "explained_var"],
        )
    )
    text += ["", f"Semi-real ERPs ({args.n_samples} samples, medians):", ""]
    table = _median_table(
        semi, ["method"], ["contrast", "tc_corr", "peak_error_mm", "explained_var"]
    )
    text.append(table if semi else "(not run)")
    (out / "results.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


def _write_csv(rows, fname):
    if rows:
        with open(fname, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
