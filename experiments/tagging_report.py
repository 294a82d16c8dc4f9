"""Tables and figures of the tagging comparison (``python experiments/tagging.py report``).

Reads runs/tagging-exp/ (baselines/, sweep/, final/) and writes

* the results between the markers in docs/tagging.md (the sweep, the final table with the
  mean and spread over seeds, the one-to-many measures, examples);
* docs/figures/tagging-curves.png: losses, D's outputs and the validation P@10 per epoch;
* docs/figures/tagging-one-to-many.png: the 100 samples of a few test images, adversarial
  and regression, projected to 2-D beside the vectors of their user tags;
* docs/figures/tagging-examples.png: a Table-2-like figure for test images whose JPEG is
  in the shared directory (thumbnail, user tags, generated tags).

Only finished runs are reported; a missing one is listed as not run.
"""

from __future__ import annotations

import json
import statistics
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

import nn
from cgan.core.run import read_metrics
from cgan.experiments.tagging import evaluate
from cgan.experiments.tagging.train import load_run
from cgan.models.tagging import VOCAB_OUTPUTS
from nn.fileio import atomic_write

BEGIN, END = "<!-- tagging-results:begin -->", "<!-- tagging-results:end -->"
METHOD_LABEL = {"cgan": "conditional adversarial net", "regression": "same generator, regression (MSE)",
                "classifier": "multi-label classifier (same trunk, 1,386 sigmoids, BCE)"}


def _json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(values, digits=3):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _total(res: dict) -> float:
    return res["train_seconds"] + res.get("validation_seconds", 0.0) + res.get("eval_seconds", 0.0)


def _runs(base: Path, condition: str, method: str):
    """(seed, run directory, results) of the finished final runs."""
    import tagging as driver   # experiments/tagging.py

    out = []
    for seed in driver.SEEDS:
        try:
            directory = driver.final_dir(condition, method, seed)
        except SystemExit:
            return out
        res = _json(directory / "results.json")
        if res is not None and "diverged" not in res:
            out.append((seed, directory, res))
    return out


def _g_output(config: dict) -> str:
    """G's output as the sweep table names it."""
    if config["method"] == "classifier":
        return "-"
    out = config.get("g_output", "linear")
    if out in VOCAB_OUTPUTS:
        out += f", T {config.get('temperature', 1.0):g}"
        if config.get("marginal_bias"):
            out += ", bias log-frequency"
        if config.get("g_estimator") == "score":
            out += ", score-function update"
    if config.get("instance_noise"):
        out += f", instance noise {config['instance_noise']:g}"
    return out


def paper_rule_results(directory: Path, res: dict, k: int = 20) -> dict:
    """The run's test figures under the tag rule with ``k`` nearest words per sample: its
    own results where it used ``k``, else an evaluation of its best epoch with ``k``, kept
    in results-k{k}.json."""
    config = _json(directory / "config.json")
    if config.get("k_nearest", 20) == k:
        return res
    path = directory / f"results-k{k}.json"
    cached = _json(path)
    if cached is None:
        cached = {key: value for key, value in evaluate.evaluate_run(directory, progress=False, k_nearest=k).items()
                  if key != "predicted"}
        with atomic_write(path, "w") as f:
            f.write(json.dumps(cached))
    return cached


def decoding_table(base: Path, condition: str = "features") -> list[str]:
    """The tag rule fed with ideal samples (experiments/tagging_decoding.py)."""
    res = _json(base / ("decoding.json" if condition == "features" else f"decoding-{condition}.json"))
    if res is None:
        return []
    lines = ["| samples drawn from | nearest words per sample | valid P@10 | valid R@10 | test P@10 | test R@10 |",
             "| --- | --- | --- | --- | --- | --- |"]
    cells = {}
    for row in res["rows"]:
        cells.setdefault((row["samples_of"], str(row["k_nearest"])), {})[row["split"]] = row
    for (of, k), by_split in cells.items():
        label = {"kNN votes": f"the votes of the {res['knn_k']} nearest training images (kNN)",
                 "marginal": "the training tags' frequencies (popular)"}[of]
        vals = " | ".join(f"{by_split[s]['precision@10']:.3f} | {by_split[s]['recall@10']:.3f}" if s in by_split
                          else "- | -" for s in ("valid", "test"))
        lines.append(f"| {label} | {k} | {vals} |")
    return lines


def sweep_table(base: Path) -> list[str]:
    import tagging as driver

    lines = ["| run (features, seed 0) | optimiser, lr | dropout keep (D, G) | G output | nearest words per sample | "
             "epochs run (best) | valid P@10 | valid R@10 | train + validation time | load (start, end of the last "
             "session) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in driver.SWEEP:
        directory = base / "sweep" / name
        config = _json(directory / "config.json")
        res = _json(directory / "results.json")
        if config is None:
            lines.append(f"| {name} | not run | | | | | | | | |")
            continue
        metrics = read_metrics(directory)
        state = "" if res else " (running or stopped)"
        best = max(metrics, key=lambda r: r.get("valid_precision@10", -1)) if metrics else {}
        keep = f"{config['d_keep']}, {config['g_keep']}" if config["method"] == "cgan" else f"-, {config['g_keep']}"
        output = _g_output(config)
        rule = "-" if config["method"] == "classifier" else str(config.get("k_nearest", 20))
        if res and "diverged" in res:
            lines.append(f"| {name} | {config['optimizer']} {config['lr']:g} | {keep} | {output} | {rule} | "
                         f"diverged | | | {res['wall_seconds']:.0f} s | |")
            continue
        wall = f"{metrics[-1]['seconds'] / 60:.0f} min" if metrics else "-"
        load = f"{res['load_start']:.1f}, {res['load_end']:.1f}" if res else "-"
        lines.append(f"| {name}{state} | {config['optimizer']} {config['lr']:g} | {keep} | {output} | {rule} | "
                     f"{len(metrics)} ({best.get('epoch', '-')}) | {best.get('valid_precision@10', float('nan')):.4f} | "
                     f"{best.get('valid_recall@10', float('nan')):.4f} | {wall} | {load} |")
    return lines


def final_table(base: Path, condition: str) -> tuple[list[str], dict]:
    lines = ["| method | seeds | test P@10 | test R@10 | test P@10, R@10 by the paper's rule (20 nearest words) | "
             "valid P@10 (best epoch) | epochs run | time per run (train + validation + test) | load (start-end) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    baselines = _json(base / "baselines" / f"{condition}.json")
    found = {}
    if baselines:
        for key, label in (("popular", "most popular training tags"),
                           ("knn", f"kNN tag transfer (cosine, k={baselines['knn_k']} chosen on validation)"),
                           ("oracle-mean", "ceiling: the tag rule on the image's own mean user-tag vector")):
            t, v = baselines[f"test-{key}"], baselines[f"valid-{key}"]
            lines.append(f"| {label} | - | {t['precision@10']:.3f} | {t['recall@10']:.3f} | - | "
                         f"{v['precision@10']:.3f} | - | - | - |")
    for method in ("cgan", "regression", "classifier"):
        runs = _runs(base, condition, method)
        found[method] = runs
        if not runs:
            lines.append(f"| {METHOD_LABEL[method]} | not run | | | | | | | |")
            continue
        p = [r["precision@10"] for _, _, r in runs]
        rr = [r["recall@10"] for _, _, r in runs]
        if method == "classifier":
            paper = "-"
        else:
            k20 = [paper_rule_results(d, r) for _, d, r in runs]
            paper = f"{_fmt([r['precision@10'] for r in k20])}, {_fmt([r['recall@10'] for r in k20])}"
        rules = {str(_json(d / "config.json").get("k_nearest", 20)) for _, d, _ in runs}
        label = METHOD_LABEL[method] + (f" ({', '.join(sorted(rules))} nearest words per sample)"
                                        if method != "classifier" else "")
        vp = ", ".join(f"{r['valid_precision@10']:.3f} ({r['best_epoch']})" for _, _, r in runs)
        ep = ", ".join(str(r["epochs"]) for _, _, r in runs)
        wall = ", ".join(f"{_total(r) / 60:.0f}" for _, _, r in runs) + " min"
        load = ", ".join(f"{r['load_start']:.0f}-{r['load_end']:.0f}" for _, _, r in runs)
        lines.append(f"| {label} | {', '.join(str(s) for s, _, _ in runs)} | {_fmt(p)} | {_fmt(rr)} | {paper} | "
                     f"{vp} | {ep} | {wall} | {load} |")
    return lines, found


def one_to_many_table(found: dict) -> list[str]:
    lines = ["| method | seeds | distinct nearest words of 100 samples | user tags covered (of images with >= 2) | "
             "coverage | mean cosine between two samples of one image |", "| --- | --- | --- | --- | --- | --- |"]
    for method in ("cgan", "regression"):
        runs = [(s, r) for s, _, r in found.get(method, []) if "coverage" in r]
        if not runs:
            continue
        lines.append(f"| {METHOD_LABEL[method]} | {', '.join(str(s) for s, _ in runs)} | "
                     f"{_fmt([r['distinct_words'] for _, r in runs], 1)} | {_fmt([r['tags_covered'] for _, r in runs], 2)} | "
                     f"{_fmt([r['coverage'] for _, r in runs])} | {_fmt([r['pairwise_cos_within_image'] for _, r in runs])} |")
    return lines


def curves_figure(found: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.4), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    for method, runs in found.items():
        for seed, directory, _ in runs:
            m = read_metrics(directory)
            epochs = [r["epoch"] for r in m]
            axes[2].plot(epochs, [r["valid_precision@10"] for r in m], marker="o", ms=3,
                         label=f"{method} s{seed}")
            if method == "cgan":
                axes[0].plot(epochs, [r["d_loss"] for r in m], label=f"D loss s{seed}")
                axes[0].plot(epochs, [r["g_loss"] for r in m], ls="--", label=f"G loss s{seed}")
                axes[1].plot(epochs, [r["d_real"] for r in m], label=f"D(x) s{seed}")
                axes[1].plot(epochs, [r["d_fake"] for r in m], ls="--", label=f"D(G(z)) s{seed}")
            else:
                axes[0].plot(epochs, [r["g_loss"] for r in m], ls=":", label=f"{method} loss s{seed}")
    axes[0].set_yscale("log")   # the classifier's summed BCE is 100 x the others' losses
    for ax, title in zip(axes, ("losses per epoch (mean, log scale)", "D's mean outputs (adversarial)",
                                "validation precision@10")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)


def _pca2(points):
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:2]


def one_to_many_figure(found: dict, path: Path, n_images: int = 4) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = {m: found[m][0][1] for m in ("cgan", "regression") if found.get(m)}
    if len(runs) < 2:
        return
    loaded = {m: load_run(d) for m, d in runs.items()}
    config, data, _, b = loaded["cgan"]
    chosen = [i for i, t in enumerate(data.test.tags) if 3 <= len(t) <= 6][:n_images]
    fig = Figure(figsize=(3.2 * len(chosen), 6.4), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    words = b.to_numpy(data.word_vectors)
    for col, i in enumerate(chosen):
        tags = data.test.tags[i]
        samples = {}
        for method, (c, d, pair, bb) in loaded.items():
            s = evaluate.generator_samples(pair.generator, d.test.cond[i:i + 1], bb.with_seed(7),
                                           noise_dim=c.noise_dim, n_samples=100)
            samples[method] = bb.to_numpy(s)[0]
        basis = _pca2(np.concatenate([words[tags], samples["cgan"]]))
        for row, method in enumerate(("cgan", "regression")):
            ax = fig.add_subplot(2, len(chosen), row * len(chosen) + col + 1)
            p = samples[method] @ basis.T
            t = words[tags] @ basis.T
            ax.scatter(p[:, 0], p[:, 1], s=6, alpha=0.5, color="C0" if method == "cgan" else "C1")
            ax.scatter(t[:, 0], t[:, 1], s=30, marker="x", color="k")
            for (x, y), w in zip(t, tags):
                ax.annotate(data.vocab[w], (x, y), fontsize=7)
            ax.set_title(f"im{data.test.image_ids[i]}: {'adversarial' if method == 'cgan' else 'regression'}",
                         fontsize=8)
            ax.tick_params(labelsize=6)
    fig.suptitle("100 samples of one test image (dots) and its user tags' vectors (x), projected on the "
                 "2 principal axes of the tags and the adversarial samples", fontsize=9)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)


def examples(found: dict, base: Path, n: int = 6):
    """(image path, id, user tags, {method: tags}) of test images with a JPEG, and a table."""
    rows = []
    if not found.get("cgan"):
        return rows, []
    _, data, _, _ = load_run(found["cgan"][0][1])
    predicted = {m: runs[0][2]["predicted"] for m, runs in found.items() if runs}
    with_image = [i for i, p in enumerate(data.test.image_paths) if Path(p).exists()][:n]
    lines = ["| image | user tags | " + " | ".join(METHOD_LABEL[m].split(" (")[0] for m in predicted) + " |",
             "| --- | --- |" + " --- |" * len(predicted)]
    for i in with_image:
        user = ", ".join(data.vocab[t] for t in data.test.tags[i])
        gen = {m: ", ".join(data.vocab[t] for t in p[i]) for m, p in predicted.items()}
        rows.append((data.test.image_paths[i], data.test.image_ids[i], user, gen))
        lines.append(f"| im{data.test.image_ids[i]} | {user} | " + " | ".join(gen.values()) + " |")
    return rows, lines


def examples_figure(rows, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    fig = Figure(figsize=(12, 1.9 * len(rows)), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    for r, (img_path, image_id, user, gen) in enumerate(rows):
        ax = fig.add_subplot(len(rows), 4, 4 * r + 1)
        ax.imshow(imread(img_path))
        ax.set_axis_off()
        ax.set_title(f"im{image_id}", fontsize=8)
        cols = [("user tags", user), ("generated (adversarial)", gen.get("cgan", "-")),
                ("classifier", gen.get("classifier", "-"))]
        for c, (title, words) in enumerate(cols, 2):
            ax = fig.add_subplot(len(rows), 4, 4 * r + c)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title, fontsize=10)
            ax.text(0.0, 0.5, "\n".join(textwrap.wrap(words, 34)), fontsize=8, va="center", ha="left",
                    transform=ax.transAxes)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)


def report(base: Path, root: Path) -> None:
    start = time.perf_counter()
    figures = root / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    from cgan.experiments.mnist.bench import machine_description

    lines = [f"Written by `python experiments/tagging.py report` on {time.strftime('%d %b %Y')}. The machine: "
             f"{machine_description(nn.get_backend('numpy'))} (as this report's process sees it); the runs "
             "with `OPENBLAS_NUM_THREADS=1` each, two to three at once (the load columns); seed 0 unless a "
             "seeds column says "
             "otherwise; the sweep and the final runs at width 0.5, validating on 500 images x 50 samples per "
             "epoch; the test figures on all 1,567 (features) or 2,001 (labels) test images x 100 samples. "
             "Times are wall times under that load.", "", "### The sweep (validation only)", ""] + sweep_table(base)
    for condition in ("features", "labels"):
        decoding = decoding_table(base, condition)
        if decoding:
            lines += ["", f"### The tag rule fed with ideal samples, {condition} condition "
                      f"(`python experiments/tagging_decoding.py --condition {condition}`)", "",
                      "100 samples per image, each the vector of a tag drawn from a known distribution; the "
                      "rule then counts each sample's nearest words:", ""] + decoding
    found_by_condition = {}
    for condition in ("features", "labels"):
        table, found = final_table(base, condition)
        found_by_condition[condition] = found
        lines += ["", f"### Test results: {condition} condition", ""] + table
        o2m = one_to_many_table(found)
        if len(o2m) > 2:
            lines += ["", f"One-to-many ({condition}, test images with at least two user tags):", ""] + o2m
    found = found_by_condition["features"]
    if any(found.values()):
        curves_figure(found, figures / "tagging-curves.png")
        one_to_many_figure(found, figures / "tagging-one-to-many.png")
        rows, ex = examples(found, base)
        if rows:
            examples_figure(rows, figures / "tagging-examples.png")
            lines += ["", "Examples (features condition, seed 0, test images with a JPEG in the shared "
                      "directory):", ""] + ex
    lines += ["", f"(report written in {time.perf_counter() - start:.0f} s)"]
    text = "\n".join(lines)
    doc = root / "docs" / "tagging.md"
    current = doc.read_text()
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1]
    else:
        current += "\n" + BEGIN + "\n" + text + "\n" + END + "\n"
    with atomic_write(doc, "w") as f:
        f.write(current)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    root = Path(__file__).resolve().parent.parent
    report(root / "runs" / "tagging-exp", root)
