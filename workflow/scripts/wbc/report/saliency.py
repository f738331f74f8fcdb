"""Where a Keras model looked: SmoothGrad saliency (the gradient of a class's probability
with respect to the input pixels, averaged over noisy copies of the image; Smilkov et al.
2017) on its most confident mistakes, with ``tf.GradientTape`` on the saved model that
``predict`` uses: any Keras model on RGB images, whatever its layers. A user sees whether
the answer came from the nucleus, the cytoplasm or the black fill around the crop.

Runs in TensorFlow's env (no matplotlib): it writes the maps, rule report_model draws them.
"""

from __future__ import annotations

import numpy as np

CELLS = 4  # the most confident mistakes explained
SAMPLES = 16  # noisy copies per map
NOISE = 0.10  # their standard deviation, as a share of the pixel range (0..255)


def smoothgrad(model, image: np.ndarray, class_index: int, seed: int = 0) -> np.ndarray:
    """|d p(class) / d pixel| summed over the colour channels, averaged over SAMPLES noisy
    copies of ``image`` (uint8 RGB at the model's input size), scaled to 0..1."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = image.astype(np.float32)[None]
    noisy = x + rng.normal(0, NOISE * 255, (SAMPLES, *x.shape[1:])).astype(np.float32)
    batch = tf.convert_to_tensor(noisy)
    with tf.GradientTape() as tape:
        tape.watch(batch)
        p = model(batch, training=False)[:, class_index]
    grads = tape.gradient(p, batch).numpy()
    saliency = np.abs(grads).sum(axis=-1).mean(axis=0)
    top = np.percentile(saliency, 99)
    return np.clip(saliency / top, 0, 1) if top > 0 else saliency


def saliency_maps(model, errors, classes, size: int, out) -> None:
    """``errors``: wbc.report.errors.cell_errors' table; the first CELLS rows' crops at the
    model's input size and their maps for the predicted and the true class, to ``out``."""
    from ..arrays import resize
    from ..crop import read_rgb

    rows = errors.head(CELLS)
    images = [resize(read_rgb(crop), size) for crop in rows["crop"]]
    maps = {
        "images": np.asarray(images, np.uint8).reshape(len(rows), size, size, 3),
        "labels": rows["label"].to_numpy(str),
        "predicted": rows["predicted"].to_numpy(str),
        "probability": rows["probability"].to_numpy(float),
        "for_predicted": np.asarray(
            [
                smoothgrad(model, im, classes.index(c))
                for im, c in zip(images, rows["predicted"], strict=True)
            ]
        ).reshape(len(rows), size, size),
        "for_true": np.asarray(
            [
                smoothgrad(model, im, classes.index(c))
                for im, c in zip(images, rows["label"], strict=True)
            ]
        ).reshape(len(rows), size, size),
    }
    np.savez_compressed(out, **maps)
