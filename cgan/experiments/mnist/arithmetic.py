"""Vector arithmetic on the noise (Radford et al. 2015, section 6.3 and Figure 7), on digits.

The DCGAN paper averaged the noise vectors of three samples that show one concept
("smiling woman"), added and subtracted such averages ("smiling woman - neutral woman +
neutral man") and drew the result ("smiling man"). On MNIST the concepts are styles of
one digit, measured on each generated image:

* **ink**: the mean pixel value; for one digit, thicker strokes put down more ink;
* **slant**: the shear of the ink, ``-cov(column, row) / var(row)`` over the image's ink
  as a distribution, in columns per row; positive leans right (the top to the right, as
  italics), 0 is upright.

From ``n`` samples of one digit (asked for with the label in a conditional run; in an
unconditional run, the samples the project's classifier reads as that digit) three
groups of ``k``: **thick** and **thin**, the most and the least ink among the more upright
half (|slant| at most its median), and **slanted**, the most slanted of all. Their noise
averages give ``thin - thick + slanted``: a slanted digit with thinner strokes, and the
measurements say whether it is one. A conditional run also draws every style vector with
each label 0-9 (the noise holds the style, the label the digit), and the paths between
the averages are drawn as interpolations.
"""

from __future__ import annotations

from pathlib import Path

from nn.backend import Backend

from ...core.noise import one_hot, sample_noise
from ...core.run import write_json
from .evaluate import interpolate_noise
from .train import load_pair

__all__ = ["ink", "slant", "style_groups", "noise_arithmetic"]

SIDE = 28


def ink(images):
    """Mean pixel value of each image, (n, 784) -> (n,)."""
    return images.mean(axis=1)


def slant(images):
    """Shear of each image's ink, (n, 784) -> (n,): -cov(column, row) / var(row), the
    columns the ink moves per row going down, negated (positive: leaning right)."""
    xp = _xp(images)
    w = images.reshape(-1, SIDE, SIDE).astype(xp.float64)
    w = w / xp.maximum(w.sum(axis=(1, 2), keepdims=True), 1e-12)
    rows = xp.arange(SIDE, dtype=xp.float64)[None, :, None]
    cols = xp.arange(SIDE, dtype=xp.float64)[None, None, :]
    mean_r = (w * rows).sum(axis=(1, 2), keepdims=True)
    mean_c = (w * cols).sum(axis=(1, 2), keepdims=True)
    var_r = (w * (rows - mean_r) ** 2).sum(axis=(1, 2))
    cov = (w * (rows - mean_r) * (cols - mean_c)).sum(axis=(1, 2))
    return -cov / xp.maximum(var_r, 1e-12)


def _xp(a):
    from nn.backend import array_module

    return array_module(a)


def style_groups(ink_values, slant_values, k: int) -> dict:
    """Indices (host lists) of the thick, thin and slanted groups, k each (module docstring)."""
    xp = _xp(ink_values)
    n = int(ink_values.shape[0])
    if k < 1 or n < 4 * k:
        raise ValueError(f"{n} samples are too few for three groups of {k}")
    upright = xp.argsort(xp.abs(slant_values))[: max(2 * k, n // 2)]
    by_ink = upright[xp.argsort(ink_values[upright])]
    slanted = xp.argsort(slant_values)[::-1]
    taken = set()
    groups = {"thick": [int(i) for i in by_ink[::-1][:k]], "thin": [int(i) for i in by_ink[:k]]}
    taken.update(groups["thick"] + groups["thin"])
    groups["slanted"] = [int(i) for i in slanted if int(i) not in taken][:k]
    return groups


def _describe(images) -> dict:
    return {"ink": [round(float(v), 4) for v in ink(images)],
            "slant": [round(float(v), 4) for v in slant(images)]}


def noise_arithmetic(run_dir, backend: Backend, *, digit: int = 7, n: int = 2000, k: int = 3,
                     steps: int = 8, seed: int = 0, output="arithmetic.png", which: str = "best",
                     classifier=None) -> dict:
    """The figures and measurements of the module docstring, next to ``output``:

    * ``<stem>.png``: one row per group (its k samples, then G of the group's average
      noise), and a last row for ``thin - thick + slanted``: G of it with k small
      perturbations (uniform, +-0.25 per coordinate, as the DCGAN paper showed its
      results), then G of it exactly;
    * ``<stem>-labels.png`` (conditional runs): the four style vectors (rows) drawn with
      each label 0-9 (columns);
    * ``<stem>-interpolation.png``: the noise moved from thick to thin, from thin to
      slanted and from slanted to the result, ``steps`` points each (rows);
    * ``<stem>.json``: the groups' ink and slant, and those of the averages' images.

    ``classifier`` (an nn network, cgan.evaluation.classifier) picks the digit's samples in
    an unconditional run. Returns the JSON's content with the paths.
    """
    from ...evaluation import plots
    from ...evaluation.classifier import predict

    config, pair, meta = load_pair(run_dir, backend, which)
    xp, dim = backend.xp, pair.noise_dim
    stream = backend.with_seed(seed)
    z = sample_noise(stream, config.noise, n, dim)

    def draw(noise, label=digit):
        y = one_hot(backend, xp.full((noise.shape[0],), label, dtype=xp.int64), 10) if pair.conditional else None
        return pair.generate(noise, y, train=False)[0]

    images = draw(z)
    if not pair.conditional:
        if classifier is None:
            raise ValueError("an unconditional run needs the classifier to find the digit's samples")
        keep = xp.nonzero(predict(classifier, images) == digit)[0]
        z, images = z[keep], images[keep]
    groups = style_groups(ink(images), slant(images), k)
    means = {name: z[xp.asarray(idx)].mean(axis=0) for name, idx in groups.items()}
    result = means["thin"] - means["thick"] + means["slanted"]
    vectors = {**means, "thin - thick + slanted": result}
    averages = draw(xp.stack(list(vectors.values())))

    varied = draw(result[None, :] + stream.uniform((k, dim), -0.25, 0.25))
    tiles = []
    for row, (name, idx) in enumerate(groups.items()):
        tiles += [images[xp.asarray(idx)], averages[row:row + 1]]
    tiles += [varied, averages[3:4]]

    output = Path(output)
    stem = output.with_suffix("")
    kind = "label" if pair.conditional else "classified as"
    paths = {"arithmetic": plots.save_image_grid(
        backend.to_numpy(xp.concatenate(tiles)), output, nrow=4, ncol=k + 1,
        title=f"{kind} {digit}: thick, thin, slanted, result")}
    if pair.conditional:
        labels = xp.tile(xp.arange(10), 4)
        grid, _ = pair.generate(xp.repeat(xp.stack(list(vectors.values())), 10, axis=0),
                                one_hot(backend, labels, 10), train=False)
        paths["labels"] = plots.save_image_grid(
            backend.to_numpy(grid), f"{stem}-labels.png", nrow=4,
            title="thick, thin, slanted, thin - thick + slanted (rows) x labels 0-9")
    ends = [("thick", "thin"), ("thin", "slanted"), ("slanted", "thin - thick + slanted")]
    path = xp.concatenate([interpolate_noise(vectors[a], vectors[b], steps) for a, b in ends])
    paths["interpolation"] = plots.save_image_grid(
        backend.to_numpy(draw(path)), f"{stem}-interpolation.png", nrow=len(ends),
        title="thick -> thin -> slanted -> thin - thick + slanted")

    report = {
        "run_dir": str(run_dir), "checkpoint": which, "epoch": meta["epoch"], "digit": digit,
        "samples_of_the_digit": int(images.shape[0]), "k": k, "seed": seed,
        "groups": {name: {"indices": idx, **_describe(images[xp.asarray(idx)])} for name, idx in groups.items()},
        "averages": {name: {key: values[i] for key, values in _describe(averages).items()}
                     for i, name in enumerate(vectors)},
        "all_samples": {"ink_mean": float(ink(images).mean()), "slant_mean": float(slant(images).mean())},
        "paths": {key: str(p) for key, p in paths.items()},
    }
    write_json(stem.parent / f"{stem.name}.json", report)
    return report
