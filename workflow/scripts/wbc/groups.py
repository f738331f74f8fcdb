"""Source groups of augmented cell images, so that a split keeps every copy on one side.

Kaggle's TRAIN folder holds ~10,000 rotated, sheared, shifted and flipped copies of a few
hundred source cells: copies of one source on both sides of a split leak. Each image gets
a ``group``; a leak-free split keeps each group whole.

Two ways to find an image's source, both with SIFT descriptors and Lowe's ratio test:

- **originals** (Kaggle's archive keeps the 640x480 slides the cells come from): each
  image's descriptors vote for the original they match (``build_index`` once per dataset,
  ``match_shard`` per shard). Originals that show the same field (photographed twice, or
  overlapping) are found at build time and share a group.
- **near duplicates** (a user's own folder, and the images no original claims):
  bag-of-words retrieval shortlists look-alike images, ratio-test matches and an affine
  RANSAC verify each pair, connected components are the groups (``near_duplicate_links``,
  ``group_near_duplicates``).

Workflow shape: shard jobs run ``describe_shard`` (features saved per shard, with each
descriptor's visual word in the originals' vocabulary when there is an index) then
``match_shard``; a changed image reruns its shard only. One collecting job runs
``assign_groups(rows, load_features(shard files), *load_links(path))``: cheap when the
originals claim the images (the shards' words are reused: no vocabulary to train, no
descriptor to assign), the whole near-duplicate search when there are none.

Determinism: descriptors are stored in a canonical row order, their entries are whole
numbers (so float32 distances are exact, whatever the BLAS), ties break on names, and the
vocabulary's k-means and OpenCV's RANSAC have fixed seeds: the same inputs give
byte-identical outputs.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .crop import UnreadableImage, nucleus_mask, read_rgb
from .runtime import UserError

# Kaggle's layout: the slides the cell images were cut from
ORIGINALS_DIR = "dataset-master/dataset-master/JPEGImages"
ORIGINAL_SUFFIXES = {".jpg", ".jpeg", ".png"}

# Every image is described in half the cell images' frame: 160x120 grey (an original is
# downscaled to it, as TEST_SIMPLE's copies of the originals are to 320x240). SIFT doubles
# its input first, so the finest keypoints are those of the 320x240 images blurred a
# little: these slides have little detail there. Measured on TRAIN images against all 367
# originals: SIFT 6 ms per image instead of 15, ~150 keypoints instead of ~220, the same
# best original for every image, the lowest winning votes 21 (18 at 320x240).
FRAME = (160, 120)
N_FEATURES = 300
# Half OpenCV's default (0.04): these blurry, low-contrast slides give ~80 keypoints a
# cell image at 0.04, ~230 at 0.02. On 400 TRAIN images matched against every original,
# the winner's lowest votes rose from 1 to 12 and the runner-up's largest share of the
# winner's votes fell from 1.0 to 0.21.
CONTRAST = 0.02
RATIO = 0.75  # Lowe's ratio test: nearest < RATIO x second nearest
# Black fill left by rotations and shifts: grey level at most FILL_GREY. Keypoints are kept
# FILL_MARGIN px and half their size away from it.
FILL_GREY = 16
FILL_MARGIN = 2

# Originals verified per image after bag-of-words retrieval (of 367 in Kaggle's archive);
# an image that gets fewer than STRONG_VOTES from them is matched against every original
# (the shortlist missed the true original of 1 TRAIN image in 10,028: it ranked 56th).
SHORTLIST = 32
VOCABULARY_WORDS = 1024
VOCABULARY_SAMPLE = 100_000  # descriptors the k-means is trained on, at most

# Votes (ratio-test matches) on the full archive at 320x240: the best original gets median
# 84, 1% of images fewer than 33, the lowest true match 12 (a blurred copy); a runner-up
# not related to the best (see RELATED_VOTES) gets median 1, 99.9% of images at most 4, at
# most 7. At 160x120 (a sample of 78 TRAIN images) the best gets ~25 % fewer (median 66,
# lowest 21), the runner-up as few (at most 7).
MIN_VOTES = 10  # fewer: noise, "unmatched"; a runner-up with as many is a real match too
STRONG_VOTES = 20  # fewer: "weak" (25 at 320x240: 15 of 10,028 images)
# Kaggle's originals include the same field photographed twice (BloodImage_00230 and
# 00257: one neutrophil, shifted) and overlapping fields: 39 pairs. An original's votes for
# another (its own descriptors, every other original competing) are <= 3 for unrelated
# pairs and 4 to 103 for those, all geometrically consistent; in a small index noise votes
# rise (fewer competitors), the geometry check does not. Merging two sources costs a
# little balance, splitting one is a leak: the thresholds sit low. At 160x120 (~25 % fewer
# keypoints) 5 and 5 lost BloodImage_00040-00041 (5 inliers at 320x240); 4 and 4 keep all
# 39 pairs and add 3, each seen as images to show the same pixels where the shift puts
# them: 00207-00279 (4 inliers: one neutrophil, in two groups before), 00225-00264 (6:
# red cells only) and 00276-00277 (already one family). A fourth, 00398-00408, was dust.
RELATED_VOTES = 4
RELATED_INLIERS = 4
# The camera's dust sits at one place in every photograph: between two unrelated slides
# its specks can agree on "no shift" (BloodImage_00398-00408: 4 inliers, all on the speck
# near the top right corner, none moved). A relation whose inliers stay where they are
# (median displacement under STILL_PIXELS) needs STILL_INLIERS; the one true pair that
# did not move (00037-00038, 1.3 px) has 34.
STILL_PIXELS = 2.0  # in the FRAME
STILL_INLIERS = 12

# Near-duplicate verification
DUP_CANDIDATES = 10  # look-alikes verified per image
DUP_MIN_INLIERS = 12  # keypoints consistent with one affine map that link two images
DUP_ROUNDS = 50  # rounds of linking at most (a few suffice: components merge fast)

# When a group cannot vouch for itself (the ``doubt`` column of groups.tsv, empty when it
# can): WEAK_LINK, it holds together only through a link of fewer than DUP_STRONG_INLIERS
# inliers or a weak or ambiguous match to an original (a link near the threshold says
# that others may have fallen just below it: a source split, a leak); GIANT, it holds
# more than GIANT_SHARE of the images and more than GIANT_MIN (links chained through
# unrelated images). Kaggle's largest source holds 3 % of TRAIN.
DUP_STRONG_INLIERS = 20
GIANT_SHARE, GIANT_MIN = 0.1, 100
WEAK_LINK, GIANT = "weak_link", "giant"
RANSAC_PIXELS = 1.5  # in the 160x120 frame (3 px of a 320x240 image)

MATCHED, WEAK, AMBIGUOUS, UNMATCHED, UNREADABLE = (
    "matched", "weak", "ambiguous", "unmatched", "unreadable"
)  # fmt: skip
MATCH_COLUMNS = ("image", "original", "votes", "runner_up", "runner_up_votes", "match")
GROUP_COLUMNS = (
    "image", "group", "original", "votes", "runner_up", "runner_up_votes", "match", "doubt"
)  # fmt: skip
INDEX_VERSION = 3

log = logging.getLogger(__name__)


# --- describing images ----------------------------------------------------------------


def _sift() -> cv2.SIFT:
    return cv2.SIFT_create(nfeatures=N_FEATURES, contrastThreshold=CONTRAST)


def _grey_frame(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if grey.shape[::-1] != FRAME:
        grey = cv2.resize(grey, FRAME, interpolation=cv2.INTER_AREA)
    return grey


@dataclass(frozen=True)
class Features:
    """SIFT keypoints of one image in the ``FRAME``, in a canonical row order."""

    xy: np.ndarray  # (n, 2) float32 keypoint positions
    desc: np.ndarray  # (n, 128) uint8 descriptors
    # each descriptor's visual word, and its mirror's, in the vocabulary the shard was
    # described with (the originals' index); None when there was none
    words: np.ndarray | None = None  # (n,) int16
    mirror_words: np.ndarray | None = None  # (n,) int16

    def __len__(self) -> int:
        return len(self.desc)


def _features(grey: np.ndarray) -> Features:
    """SIFT away from black fill: the corners of the fill an augmentation leaves at the
    borders match between any two copies rotated alike (up to 15 false RANSAC inliers
    measured between unrelated TRAIN images; 10 with this mask).

    OpenCV's float SIFT entries are whole numbers in 0..255, so uint8 is lossless; its
    keypoint order depends on its threads, the sorted rows do not.
    """
    clear = cv2.distanceTransform((grey > FILL_GREY).astype(np.uint8), cv2.DIST_L2, 3)
    sift = _sift()
    keypoints = sift.detect(grey, (clear > FILL_MARGIN).astype(np.uint8))
    h, w = grey.shape
    keypoints = [
        k
        for k in keypoints
        if clear[min(int(k.pt[1] + 0.5), h - 1), min(int(k.pt[0] + 0.5), w - 1)] > 0.5 * k.size
    ]
    keypoints, desc = sift.compute(grey, keypoints) if keypoints else ((), None)
    if desc is None or not len(keypoints):
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8))
    desc = np.clip(np.rint(desc), 0, 255).astype(np.uint8)
    xy = np.array([k.pt for k in keypoints], np.float32)
    order = np.lexsort((xy[:, 1], xy[:, 0], *desc.T[::-1]))
    return Features(xy[order], desc[order])


def describe(image_path: str | Path) -> Features | None:
    """SIFT features of one image, grey and resized to the ``FRAME``.

    ``None`` when the file cannot be decoded (missing, empty, truncated, not an image): the
    shard goes on and the row says ``unreadable``. A readable image without keypoints
    (blank) has zero rows and ends ``unmatched``.
    """
    try:
        rgb = read_rgb(image_path)
    except (OSError, UnreadableImage):
        return None
    return _features(_grey_frame(rgb))


# Mirroring a patch about its keypoint's orientation axis flips the descriptor's 4x4
# spatial grid along one axis and mirrors its 8 orientation bins: a permutation (measured:
# ~5% of the descriptor norm from SIFT run on the mirrored image, vs ~75% for other pairs).
_MIRROR = np.arange(128).reshape(4, 4, 8)[::-1][:, :, (-np.arange(8)) % 8].reshape(-1)


def mirror_descriptors(desc: np.ndarray) -> np.ndarray:
    """The descriptors the horizontally mirrored image would have (approximately)."""
    return desc[:, _MIRROR]


def describe_shard(
    images: Iterable[tuple[str, str | Path]],
    path: str | Path | None = None,
    vocabulary: Vocabulary | None = None,
) -> dict[str, Features | None]:
    """Describe every ``(image id, file)`` of a shard, with each descriptor's word (and its
    mirror's) in ``vocabulary`` when given; save them to ``path`` (``.npz``)."""
    features = {image: describe(file) for image, file in images}
    if vocabulary is not None:
        features = with_words(features, vocabulary)
    if path is not None:
        save_features(features, path)
    return features


def with_words(
    features: Mapping[str, Features | None], vocabulary: Vocabulary
) -> dict[str, Features | None]:
    """The features with each descriptor's word, and its mirror's, in ``vocabulary``: what
    the near-duplicate search needs of each image, computed where the image is described
    (a shard) instead of for every image each time the groups are collected."""
    kept = [i for i, f in features.items() if f is not None]
    desc = [features[i].desc for i in kept]
    plain = words_of(desc, vocabulary.centres)
    mirror = words_of([mirror_descriptors(d) for d in desc], vocabulary.centres)
    out = dict(features)
    for image, p, m in zip(kept, plain, mirror, strict=True):
        f = features[image]
        out[image] = Features(f.xy, f.desc, p.astype(np.int16), m.astype(np.int16))
    return out


def save_features(features: Mapping[str, Features | None], path: str | Path) -> None:
    """One ``.npz``: image ids, keypoint counts (-1: unreadable), rows (and their words
    where every image has them). Not compressed: zlib took 0.27 s of a shard job's ~3 s
    to save ~30 % of the disk (280 MB for 12.5 k images instead of 200)."""
    ids = list(features)
    kept = [features[i] for i in ids if features[i] is not None]
    arrays = {
        "images": np.array(ids, dtype=str),
        "counts": np.array([-1 if features[i] is None else len(features[i]) for i in ids]),
        "xy": np.concatenate([f.xy for f in kept] or [np.zeros((0, 2), np.float32)]),
        "desc": np.concatenate([f.desc for f in kept] or [np.zeros((0, 128), np.uint8)]),
    }
    if kept and all(f.words is not None for f in kept):
        arrays["words"] = np.concatenate([f.words for f in kept])
        arrays["mirror_words"] = np.concatenate([f.mirror_words for f in kept])
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
        np.savez(fh, **arrays)


def load_features(paths: Iterable[str | Path]) -> dict[str, Features | None]:
    """The features of one or more shard files, in file order."""
    features: dict[str, Features | None] = {}
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            xy, desc, at = data["xy"], data["desc"], 0
            words = data["words"] if "words" in data.files else None
            mirror = data["mirror_words"] if "mirror_words" in data.files else None
            for image, count in zip(data["images"].tolist(), data["counts"].tolist(), strict=True):
                if count < 0:
                    features[image] = None
                else:
                    rows = slice(at, at + count)
                    features[image] = Features(
                        xy[rows],
                        desc[rows],
                        None if words is None else words[rows],
                        None if mirror is None else mirror[rows],
                    )
                    at += count
    return features


# --- bag of visual words --------------------------------------------------------------


def _nearest(x: np.ndarray, centres: np.ndarray, rows: int = 2048) -> np.ndarray:
    """Index of the nearest centre of each row: argmin of |c|^2 - 2 x.c, in blocks of rows
    written into one buffer (bounded memory; blocks that fit the cache and no temporaries:
    ~30 % less time than a fresh 8192-row product per block, the same words: -2c is exact)."""
    c = centres.astype(np.float32)
    c_norms = (c * c).sum(1)
    minus_2c = (-2 * c).T.copy()
    out = np.empty(len(x), np.int64)
    buffer = np.empty((min(rows, len(x)), len(c)), np.float32)
    for lo in range(0, len(x), rows):
        block = x[lo : lo + rows].astype(np.float32)
        distances = buffer[: len(block)]
        np.matmul(block, minus_2c, out=distances)
        distances += c_norms
        out[lo : lo + len(block)] = distances.argmin(axis=1)
    return out


def _kmeans(x: np.ndarray, k: int, iterations: int = 10) -> np.ndarray:
    """Lloyd's k-means from k rows drawn with a fixed seed; an emptied centre stays put.
    (scikit-learn's MiniBatchKMeans took ~50x longer for the same words.)"""
    from scipy import sparse  # here: only the index builds a vocabulary; 0.1 s a shard job

    x = x.astype(np.float32)
    centres = x[np.sort(np.random.default_rng(0).choice(len(x), k, replace=False))]
    for _ in range(iterations):
        labels = _nearest(x, centres)
        sums = (
            sparse.csr_matrix(
                (np.ones(len(x), np.float32), (labels, np.arange(len(x)))), shape=(k, len(x))
            )
            @ x
        )
        counts = np.bincount(labels, minlength=k)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


@dataclass(frozen=True)
class Vocabulary:
    """Visual words (k-means centres of SIFT descriptors) and their idf weights."""

    centres: np.ndarray  # (words, 128) float32
    idf: np.ndarray  # (words,) float32

    def words(self, desc: np.ndarray) -> np.ndarray:
        return _nearest(desc, self.centres)

    def vectors(self, word_lists: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised tf-idf vectors, one row per word list."""
        out = np.zeros((len(word_lists), len(self.idf)), np.float32)
        for row, words in zip(out, word_lists, strict=True):
            row += np.bincount(words, minlength=len(self.idf)) * self.idf
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def words_of(descriptors: Sequence[np.ndarray], centres: np.ndarray) -> list[np.ndarray]:
    """Each image's words: one nearest-centre pass over all its descriptors together (one
    matrix product per block instead of one per image: ~4x less CPU, the same words)."""
    lengths = [len(d) for d in descriptors]
    if not lengths:
        return []
    flat = _nearest(np.concatenate(descriptors), centres)
    return np.split(flat, np.cumsum(lengths)[:-1])


def train_vocabulary(
    descriptors: Sequence[np.ndarray], words: int = VOCABULARY_WORDS
) -> tuple[Vocabulary, list[np.ndarray]]:
    """Words from (an evenly spaced sample of) the descriptors of a set of images, one array
    per image, with idf weights over those images; also returns each image's words."""
    desc = np.concatenate(descriptors)
    sample = desc[:: max(1, len(desc) // VOCABULARY_SAMPLE)]
    words = max(2, min(words, len(sample) // 20))  # a handful of images: fewer words
    centres = _kmeans(sample, words)
    word_lists = words_of(descriptors, centres)
    return Vocabulary(centres, idf_of(word_lists, words)), word_lists


def idf_of(word_lists: Sequence[np.ndarray], words: int) -> np.ndarray:
    """Inverse document frequency of each word over the images (one word list each)."""
    seen = np.zeros(words)
    for w in word_lists:
        seen[np.unique(w)] += 1
    return np.log((1 + len(word_lists)) / (1 + seen)).astype(np.float32)


# --- originals ------------------------------------------------------------------------


def find_originals(dataset_root: str | Path) -> list[Path]:
    """The source slides when the dataset has Kaggle's layout (``dataset-master/
    dataset-master/JPEGImages`` anywhere under the root), sorted by name; else ``[]``."""
    root = Path(dataset_root)
    folders = [root / ORIGINALS_DIR] if (root / ORIGINALS_DIR).is_dir() else []
    if not folders:
        folders = sorted(
            p
            for p in root.rglob(Path(ORIGINALS_DIR).name)
            if p.is_dir() and p.as_posix().endswith(ORIGINALS_DIR) and "__MACOSX" not in p.parts
        )
    if not folders:
        return []
    return sorted(
        p
        for p in folders[0].iterdir()
        if p.is_file() and p.suffix.lower() in ORIGINAL_SUFFIXES and not p.name.startswith(".")
    )


def read_original_labels(dataset_root: str | Path) -> dict[str, tuple[str, ...]]:
    """Kaggle's ``labels.csv`` beside the originals: original name -> its cell classes
    (``()`` when blank; "NEUTROPHIL, EOSINOPHIL" is a slide with two cells). Used to check
    matches, never to restrict them (see ``match_shard``)."""
    originals = find_originals(dataset_root)
    if not originals:
        return {}
    path = originals[0].parent.parent / "labels.csv"
    if not path.is_file():
        return {}
    labels = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if not (row.get("Image") or "").strip().isdigit():
                continue
            name = f"BloodImage_{int(row['Image']):05d}"
            cells = (row.get("Category") or "").replace(";", ",").split(",")
            labels[name] = tuple(c.strip().upper() for c in cells if c.strip())
    return labels


@dataclass(frozen=True)
class Index:
    """SIFT descriptors of the originals and their mirror images, sorted by original."""

    names: tuple[str, ...]  # original file stems, sorted
    desc: np.ndarray  # (n, 128) float32 (whole numbers)
    owner: np.ndarray  # (n,) int32 position in ``names``; ascending
    starts: np.ndarray  # rows of original k: starts[k] to starts[k + 1]
    side_starts: np.ndarray  # rows of original k plain: side 2k, mirrored: side 2k + 1
    norms: np.ndarray  # squared norm of each row
    vocabulary: Vocabulary
    bow: np.ndarray  # (2 x originals, words): tf-idf of each original, then its mirror
    related: tuple[tuple[str, str, int], ...]  # (a, b, inliers): originals that overlap
    family: np.ndarray  # per original: the first original of its related ones


def build_index(originals: Sequence[str | Path], path: str | Path) -> Index:
    """Describe each original (downscaled to the ``FRAME``, grey) and its horizontal mirror
    (SIFT is rotation- but not mirror-invariant; mirror + rotation covers vertical flips
    too), find the originals that show the same field, save it all to one ``.npz``. An
    unreadable or blank original is skipped with a warning."""
    names, per_side = [], []
    for file in sorted(originals, key=lambda p: Path(p).stem):
        try:
            grey = _grey_frame(read_rgb(file))
        except (OSError, UnreadableImage) as err:
            log.warning("skipping original %s: %s", file, err)
            continue
        sides = [_features(grey), _features(np.ascontiguousarray(grey[:, ::-1]))]
        if not len(sides[0]):
            log.warning("skipping original %s: no SIFT keypoints (blank?)", file)
            continue
        names.append(Path(file).stem)
        per_side += sides
    if len(names) < 2:
        raise UserError(f"an index needs two or more readable originals, got {len(names)}")
    vocabulary, words = train_vocabulary([f.desc for f in per_side])
    sizes = [
        len(plain) + len(mirror)
        for plain, mirror in zip(per_side[0::2], per_side[1::2], strict=True)
    ]
    arrays = {
        "version": np.int32(INDEX_VERSION),
        "names": np.array(names, dtype=str),
        "desc": np.concatenate([f.desc for f in per_side]),
        "owner": np.repeat(np.arange(len(names), dtype=np.int32), sizes),
        "sides": np.array([len(f) for f in per_side], np.int64),
        "centres": vocabulary.centres,
        "idf": vocabulary.idf,
        "bow": vocabulary.vectors(words),
    }
    related = _related_originals(_index_from(arrays), per_side)
    arrays["related"] = np.array(related, np.int32).reshape(-1, 3)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return load_index(path)


def _related_originals(index: Index, per_side: Sequence[Features]) -> list[tuple[int, int, int]]:
    """Pairs (a, b, inliers), a < b, of originals that show the same field: a's own
    descriptors give b ``RELATED_VOTES`` or more ratio-test votes (every other original
    competing; their plain sides only: a field photographed twice is not mirrored), and
    ``RELATED_INLIERS`` or more of those agree on one shift (rotation, scale) of the slide
    under the microscope. Votes alone are noise in a small index. (A bag-of-words
    shortlist of 32 originals lost 6 of the 39 pairs: fields that overlap in part.)"""
    row_xy = np.concatenate([f.xy for f in per_side])  # index rows: plain, mirror, plain...
    found: dict[tuple[int, int], int] = {}
    for a, feats in enumerate(per_side[0::2]):
        n = len(index.names)
        picked, votes, nearest_row, ok = _votes(feats.desc, index, n, exclude=a, plain=True)
        for k in np.flatnonzero(votes >= RELATED_VOTES).tolist():
            b = int(picked[k])
            mine = np.flatnonzero(ok & (index.owner[nearest_row] == b))
            agreeing = related_inliers(feats.xy[mine], row_xy[nearest_row[mine]])
            log.debug(
                "originals %s -> %s: %d votes, %d agree",
                index.names[a],
                index.names[b],
                votes[k],
                agreeing,
            )
            if agreeing >= RELATED_INLIERS:
                key = (min(a, b), max(a, b))
                found[key] = max(found.get(key, 0), agreeing)
    return [(a, b, n) for (a, b), n in sorted(found.items())]


def slide_shift(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The shift (rotation, scale; a 2x3 matrix) that maps most keypoints ``src`` onto
    their matches ``dst`` (RANSAC), and which of them agree on it; None when none is
    found."""
    if len(src) < 2:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS
    )
    if matrix is None or inliers is None:
        return None
    return matrix, inliers.ravel().astype(bool)


def related_inliers(src: np.ndarray, dst: np.ndarray) -> int:
    """Keypoints of one original (``src``) and their matches in another (``dst``) that
    agree on one shift (rotation, scale) of the slide; 0 where too few of them to be a
    relation: fewer than 3 places, or too few when none of them moved (``STILL_PIXELS``)."""
    shift = slide_shift(src, dst)
    if shift is None:
        return 0
    kept = shift[1]
    # two places fix a shift with rotation and scale exactly: a third is the first check
    # (SIFT gives one place several keypoints, one per orientation)
    if len(np.unique(src[kept], axis=0)) < 3:
        return 0
    moved = float(np.median(np.linalg.norm(dst[kept] - src[kept], axis=1)))
    if moved < STILL_PIXELS and kept.sum() < STILL_INLIERS:
        return 0
    return int(kept.sum())


def _check_version(data: np.lib.npyio.NpzFile, path: str | Path) -> None:
    if "version" not in data or int(data["version"]) != INDEX_VERSION:
        raise UserError(f"{path}: an index from another version of wbc.groups, rebuild it")


def load_index(path: str | Path) -> Index:
    with np.load(path, allow_pickle=False) as data:
        _check_version(data, path)
        return _index_from({key: data[key] for key in data.files})


def load_links(path: str | Path) -> tuple[tuple[tuple[str, str, int], ...], Vocabulary | None]:
    """What collecting the groups needs of an index (its related originals and its
    vocabulary) without its descriptors; ``((), None)`` for the empty file a folder
    without originals gets."""
    if not Path(path).stat().st_size:
        return (), None
    with np.load(path, allow_pickle=False) as data:
        _check_version(data, path)
        names = data["names"].tolist()
        related = tuple((names[a], names[b], v) for a, b, v in data["related"].tolist())
        return related, Vocabulary(data["centres"], data["idf"])


def _index_from(arrays: Mapping[str, np.ndarray]) -> Index:
    names = tuple(arrays["names"].tolist())
    related = arrays.get("related", np.zeros((0, 3), np.int32)).tolist()
    comps = _Components()
    for a, b, _ in related:
        comps.union(a, b)
    desc = arrays["desc"].astype(np.float32)
    return Index(
        names=names,
        desc=desc,
        owner=arrays["owner"],
        starts=np.searchsorted(arrays["owner"], np.arange(len(names) + 1)),
        side_starts=np.concatenate([[0], np.cumsum(arrays["sides"])]),
        norms=_sq_norms(desc),
        vocabulary=Vocabulary(arrays["centres"], arrays["idf"]),
        bow=arrays["bow"],
        related=tuple((names[a], names[b], v) for a, b, v in related),
        family=np.array([comps.find(k) for k in range(len(names))]),
    )


def _sq_norms(x: np.ndarray) -> np.ndarray:
    """Each row's squared norm without an (n, 128) temporary: einsum takes 0.004 s where
    ``(x * x).sum(-1)`` took 0.37 s for the originals' 127 k rows, once per shard job.
    Exact in float32 for SIFT's integer rows (sums < 2**24), so the order is immaterial."""
    return np.einsum("ij,ij->i", x, x)


def _sq_distances(q: np.ndarray, rows: np.ndarray, row_norms: np.ndarray) -> np.ndarray:
    """Squared distances from each row of ``q`` to each of ``rows`` (squared norms
    ``row_norms``; inf never nearest), summed in place: 0.6x the time of the plain
    expression, whose three matrix-sized temporaries cost more than its product. Every term
    is a whole number below 2**24 (SIFT rows), so float32 holds each sum exactly."""
    d2 = q @ rows.T
    d2 *= -2
    d2 += row_norms
    d2 += _sq_norms(q)[:, None]
    return d2


def _two_smallest(d2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: position of the smallest entry, its value, the second smallest value."""
    if d2.shape[-1] == 1:  # one candidate: nothing to compare with, the test passes
        d2 = np.concatenate([d2, np.full_like(d2, np.inf)], axis=-1)
    nearest = np.argmin(d2, axis=-1)
    two = np.partition(d2, 1, axis=-1)
    return nearest, two[..., 0], two[..., 1]


def _votes(
    desc: np.ndarray, index: Index, size: int, exclude: int | None = None, plain: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``size`` originals most like the image by bag of words (all of them when size
    is their number; never ``exclude``) and the ratio-test votes of the image's
    descriptors for each; also each descriptor's nearest index row and whether it passed.

    Of a shortlisted original only its side (plain or mirrored) more like the image is
    matched, unless every original is: a copy is flipped or not, and its bag of words
    tells which (half the work); with ``plain``, only plain sides. The second neighbour
    is the nearest descriptor of *another* original (per-original minima), so an
    original's own mirror image or repeated texture never vetoes its votes.
    """
    vocab, n = index.vocabulary, len(index.names)
    side_score = (index.bow @ vocab.vectors([vocab.words(desc)])[0]).reshape(-1, 2)
    score = side_score.max(1)  # an original or its mirror
    if exclude is not None:
        score[exclude] = -np.inf
    picked = np.sort(np.argsort(-score, kind="stable")[: min(size, n - (exclude is not None))])
    if plain:
        sides = 2 * picked[:, None]
    elif size >= n:
        sides = np.stack([2 * picked, 2 * picked + 1], axis=1)
    else:
        better = (side_score[picked, 1] > side_score[picked, 0]).astype(int)
        sides = (2 * picked + better)[:, None]
    lo, hi = index.side_starts[sides], index.side_starts[sides + 1]
    rows = np.concatenate([np.arange(a, b) for a, b in zip(lo.ravel(), hi.ravel(), strict=True)])
    q = desc.astype(np.float32)
    d2 = _sq_distances(q, index.desc[rows], index.norms[rows])
    sizes = (hi - lo).sum(1)
    per_original = np.minimum.reduceat(d2, np.cumsum(sizes) - sizes, axis=1)
    nearest, d1, d2nd = _two_smallest(per_original)
    ok = d1 < RATIO**2 * d2nd
    nearest_row = rows[np.argmin(d2, axis=1)]
    return picked, np.bincount(nearest[ok], minlength=len(picked)), nearest_row, ok


def match_shard(
    features: Mapping[str, Features | None], index: Index | None, shortlist: int = SHORTLIST
) -> list[dict[str, object]]:
    """One row (``MATCH_COLUMNS``) per image: its best original, votes, runner-up, status.

    - ``matched``: the best original has ``STRONG_VOTES`` or more and no unrelated
      original has ``MIN_VOTES`` (a related one, the same field, may);
    - ``ambiguous``: two unrelated originals both have ``MIN_VOTES`` or more;
    - ``weak``: the best has ``MIN_VOTES`` to ``STRONG_VOTES``;
    - ``unmatched``: fewer (noise), no keypoints, or no index (a user's own folder:
      ``assign_groups`` then links near duplicates);
    - ``unreadable``: the file could not be decoded.

    Matching is not restricted to originals whose ``labels.csv`` class is the image's: the
    file has blank rows, BASOPHIL and two-cell slides, so a wrong or missing label would
    hide the true source (a leak), while the SIFT evidence alone is decisive (on the full
    archive every match agreed with labels.csv anyway).
    """
    rows = []
    for image, feats in features.items():
        row = {"image": image, "original": "", "votes": 0, "runner_up": "", "runner_up_votes": 0}
        rows.append(row)
        if feats is None:
            row["match"] = UNREADABLE
            continue
        if index is None or len(feats) == 0:
            row["match"] = UNMATCHED
            continue
        picked, votes, _, _ = _votes(feats.desc, index, shortlist)
        if votes.max() < STRONG_VOTES and len(picked) < len(index.names):
            picked, votes, _, _ = _votes(feats.desc, index, len(index.names))
        order = np.lexsort((picked, -votes))  # most votes first, ties to the first name
        best = picked[order[0]]
        second = picked[order[1]] if len(order) > 1 else best
        row["votes"] = int(votes[order[0]])
        row["runner_up_votes"] = int(votes[order[1]]) if len(order) > 1 else 0
        row["original"] = index.names[best] if row["votes"] else ""
        row["runner_up"] = index.names[second] if row["runner_up_votes"] else ""
        if row["votes"] < MIN_VOTES:
            row["match"] = UNMATCHED
        elif row["runner_up_votes"] >= MIN_VOTES and index.family[best] != index.family[second]:
            row["match"] = AMBIGUOUS
        elif row["votes"] < STRONG_VOTES:
            row["match"] = WEAK
        else:
            row["match"] = MATCHED
    return rows


# --- near duplicates ------------------------------------------------------------------


def near_duplicate_links(
    features: Mapping[str, Features | None],
    candidates: int = DUP_CANDIDATES,
    queries: Iterable[str] | None = None,
    vocabulary: Vocabulary | None = None,
) -> list[tuple[str, str, int]]:
    """Pairs of images that are augmented copies of one another: ``(a, b, inliers)``, a < b,
    enough of them that every source's copies end up connected.

    Retrieval: tf-idf bag-of-words vectors (a vocabulary trained on these images) of each
    image and of its mirror; similarity is the better of an image's plain and mirrored
    vectors' cosines with the other's plain vector. Verification (``pair_inliers``):
    ratio-test matches, then the inliers of an affine map (RANSAC: rotation, zoom, shear,
    shift, flip); ``DUP_MIN_INLIERS`` or more link the pair.

    Rounds until nothing new links: each image verifies its ``candidates`` most similar
    images *outside its own component so far*; a component that grew sends its images
    again. A source with hundreds of copies fills an image's shortlist with siblings in
    one round (the copies then fell apart into several components, each a leak); here its
    components keep asking until they find one another. At the end, every image's
    ``candidates`` most similar images outside its group failed the verification. Each
    pair is verified once, in a direction fixed by the two images' content, so names,
    folders and unrelated images change no verdict. With ``queries``, only query images
    ask (their links may reach any image).

    ``vocabulary`` (the originals' index's, when there is one) replaces the vocabulary
    trained on these images, and the words the shards stored with the features
    (``with_words``, in that vocabulary) are used as they are: the retrieval's idf weights
    are still these images'. On Kaggle's archive the groups are the same either way, and
    the collecting job no longer assigns ~1.5 M descriptors to words (8 of its 13 s).
    """
    ids = sorted(i for i, f in features.items() if f is not None and len(f))
    asking = np.arange(len(ids))
    if queries is not None:
        asking = np.flatnonzero(np.isin(ids, sorted(set(queries))))
    if len(ids) < 2 or not len(asking):
        return []
    feats = [features[i] for i in ids]
    keys = [hashlib.sha1(f.desc.tobytes() + f.xy.tobytes()).digest() for f in feats]
    if vocabulary is None:
        vocab, words = train_vocabulary([f.desc for f in feats])
        mirror_words = words_of([mirror_descriptors(feats[r].desc) for r in asking], vocab.centres)
    else:
        words, mirror_words = _words_in(vocabulary, feats, asking)
        vocab = Vocabulary(vocabulary.centres, idf_of(words, len(vocabulary.centres)))
    plain = vocab.vectors(words)
    mirrored = vocab.vectors(mirror_words)
    mirrored_of = dict(zip(asking.tolist(), range(len(asking)), strict=True))
    k = min(candidates, len(ids) - 1)
    comps = _Components()
    verified: set[tuple[int, int]] = set()
    links: list[tuple[str, str, int]] = []
    for round_ in range(1, DUP_ROUNDS + 1):
        label = np.array([comps.find(i) for i in range(len(ids))])
        size_before = np.bincount(label, minlength=len(ids))[label]
        checked = 0
        for lo in range(0, len(asking), 1024):  # 1024 rows of the similarity at a time
            block = asking[lo : lo + 1024]
            sim = np.maximum(
                plain[block] @ plain.T, mirrored[[mirrored_of[r] for r in block]] @ plain.T
            )
            sim[label[block][:, None] == label[None, :]] = -np.inf  # its own component
            for a, row_top, row_sim in zip(block.tolist(), _top(sim, k), sim, strict=True):
                others = [
                    b
                    for b in row_top.tolist()
                    if row_sim[b] > -np.inf
                    and (min(a, b), max(a, b)) not in verified
                    and comps.find(a) != comps.find(b)
                ]
                verified.update((min(a, b), max(a, b)) for b in others)
                checked += len(others)
                for b, n in _verify(a, others, feats, keys):
                    if n >= DUP_MIN_INLIERS:
                        links.append((ids[min(a, b)], ids[max(a, b)], n))
                        comps.union(a, b)
        label = np.array([comps.find(i) for i in range(len(ids))])
        grew = np.bincount(label, minlength=len(ids))[label] != size_before
        log.debug(
            "near duplicates, round %d: %d pairs verified, %d links", round_, checked, len(links)
        )
        asking = asking[grew[asking]]
        if not len(asking):
            break
    else:
        log.warning(
            "near duplicates: still linking after %d rounds; some sources may be split", DUP_ROUNDS
        )
    return sorted(links)


def _words_in(
    vocabulary: Vocabulary, feats: Sequence[Features], asking: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each image's words and the asking images' mirrored words in ``vocabulary``: those
    stored with the features where every image has them, else assigned here."""
    if all(f.words is not None for f in feats):
        return [f.words for f in feats], [feats[r].mirror_words for r in asking]
    words = words_of([f.desc for f in feats], vocabulary.centres)
    mirrored = words_of([mirror_descriptors(feats[r].desc) for r in asking], vocabulary.centres)
    return words, mirrored


def _top(sim: np.ndarray, k: int) -> list[np.ndarray]:
    """Per row, the columns of its k largest entries, largest first, ties to the first
    column (as a stable sort, without sorting whole rows)."""
    kth = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k]
    out = []
    for row, least in zip(sim, kth, strict=True):
        cols = np.flatnonzero(row >= least)
        out.append(cols[np.lexsort((cols, -row[cols]))][:k])
    return out


def _verify(
    a: int, others: Sequence[int], feats: Sequence[Features], keys: Sequence[bytes]
) -> list[tuple[int, int]]:
    """(b, inliers) for each other image b: the image whose content key is smaller asks
    (so a pair's verdict is the same whichever image shortlisted the other)."""
    asks = [b for b in others if keys[a] < keys[b]]
    out = list(zip(asks, pair_inliers(feats[a], [feats[b] for b in asks]), strict=True))
    out += [(b, pair_inliers(feats[b], [feats[a]])[0]) for b in others if keys[a] >= keys[b]]
    return out


def pair_inliers(a: Features, others: Sequence[Features]) -> list[int]:
    """Geometric inliers of ``a`` against each other image (the better of plain and
    mirrored descriptors). The ratio test looks for the second nearest within the same
    other image, as in Lowe's pairwise matching."""
    if not others:
        return []
    width = max(len(b) for b in others)
    flat = np.zeros((len(others), width, 128), np.float32)
    norms = np.full((len(others), width), np.inf, np.float32)  # padding: never nearest
    for k, b in enumerate(others):
        flat[k, : len(b)] = b.desc
        norms[k, : len(b)] = _sq_norms(b.desc.astype(np.float32))
    flat = flat.reshape(-1, 128)
    best = [0] * len(others)
    for desc in (a.desc, mirror_descriptors(a.desc)):
        q = desc.astype(np.float32)
        d2 = _sq_distances(q, flat, norms.reshape(-1))
        nearest, d1, d2nd = _two_smallest(d2.reshape(len(q), len(others), width))
        ok = d1 < RATIO**2 * d2nd  # (descriptors of a, others)
        for k, b in enumerate(others):
            matched = np.flatnonzero(ok[:, k])
            # 3 points fix an affine map; no RANSAC that could not beat the count so far
            if len(matched) >= max(3, DUP_MIN_INLIERS, best[k] + 1):
                best[k] = max(best[k], _affine_inliers(a.xy[matched], b.xy[nearest[matched, k]]))
    return best


def _affine_inliers(src: np.ndarray, dst: np.ndarray) -> int:
    """Inliers of the best affine map src -> dst (OpenCV's RANSAC has a fixed seed)."""
    _, inliers = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS, maxIters=2000
    )
    return 0 if inliers is None else int(inliers.sum())


class _Components:
    """Union-find over hashable nodes."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_near_duplicates(
    features: Mapping[str, Features | None],
    links: Iterable[tuple[str, str, int]] | None = None,
) -> dict[str, str]:
    """Image -> group without originals: connected components of near-duplicate links
    (computed unless given), named after their first image id; an image that matches
    nothing (or is unreadable) is its own group."""
    if links is None:
        links = near_duplicate_links(features)
    comps = _Components()
    for image in features:
        comps.find(image)
    for a, b, _ in links:
        comps.union(a, b)  # the smaller id becomes the root: the group's name
    return {image: comps.find(image) for image in sorted(features)}


def assign_groups(
    rows: Iterable[Mapping[str, object]],
    features: Mapping[str, Features | None] | None = None,
    related: Iterable[tuple[str, str, int]] = (),
    vocabulary: Vocabulary | None = None,
) -> list[dict[str, object]]:
    """Final rows (``GROUP_COLUMNS``), sorted by image, each with its ``group``.

    - ``matched``: the group of its original, named after it (``BloodImage_00012``);
      ``related`` originals (``Index.related``: the same field photographed twice, or
      overlapping fields) share one group, named after the first.
    - ``weak`` joins its best original's group and ``ambiguous`` joins both its best and
      runner-up originals' groups (merging them): the row keeps its status, nothing is
      hidden. For a leak-free split, merging two sources costs a little balance, while
      splitting one source's copies across train and test is the leak being prevented.
    - ``weak``, ``ambiguous`` and ``unmatched`` images (with ``features``) are also linked
      as near duplicates to any image: a copy the originals miss (too zoomed, too blurred)
      joins its siblings' group, and copies of a source missing from the originals end up
      together (in ``vocabulary``, the originals' index's, when given: see
      ``near_duplicate_links``). Components without an original are named after their
      first image id; an unlinked image is its own group.
    - ``unreadable``: its own group (no pixels to match or to train on).
    """
    rows = sorted((dict(r) for r in rows), key=lambda r: r["image"])
    comps, strong = _Components(), _Components()  # strong: without the weak links
    for a, b, _ in related:
        for c in (comps, strong):
            c.union(("original", a), ("original", b))
    leftovers = []
    for row in rows:
        image, status = row["image"], row["match"]
        node = ("image", image)
        comps.find(node)
        strong.find(node)
        if status in (MATCHED, WEAK, AMBIGUOUS):
            comps.union(node, ("original", row["original"]))
        if status == MATCHED:
            strong.union(node, ("original", row["original"]))
        if status == AMBIGUOUS:
            comps.union(node, ("original", row["runner_up"]))
        if status in (WEAK, AMBIGUOUS, UNMATCHED):
            leftovers.append(image)
    if features is not None and leftovers:
        for a, b, n in near_duplicate_links(features, queries=leftovers, vocabulary=vocabulary):
            comps.union(("image", a), ("image", b))
            if n >= DUP_STRONG_INLIERS:
                strong.union(("image", a), ("image", b))

    # a component is named after its first original, else its first image
    names: dict = {}
    for node in comps.parent:
        root, (kind, name) = comps.find(node), node
        rank = (kind != "original", name)
        names[root] = min(names.get(root, rank), rank)
    for row in rows:
        row["group"] = names[comps.find(("image", row["image"]))][1]
    doubts = group_doubts(
        {row["image"]: row["group"] for row in rows},
        {row["image"]: strong.find(("image", row["image"])) for row in rows},
    )
    for row in rows:
        row["doubt"] = doubts[row["group"]]
    return [{c: row.get(c, "") for c in GROUP_COLUMNS} for row in rows]


def group_doubts(group: Mapping[str, str], strong: Mapping[str, object]) -> dict[str, str]:
    """Group -> its ``doubt`` (``WEAK_LINK``, ``GIANT``, both joined by a comma, or ``""``):
    ``group`` and ``strong`` map each image to its group, and to its component without the
    weak links (a group of several such components holds by a weak link)."""
    parts: dict[str, set] = {}
    for image, g in group.items():
        parts.setdefault(g, set()).add(strong[image])
    sizes = Counter(group.values())
    giant = max(GIANT_MIN, GIANT_SHARE * len(group))
    return {
        g: ",".join(
            flag for flag, on in ((WEAK_LINK, len(parts[g]) > 1), (GIANT, sizes[g] > giant)) if on
        )
        for g in parts
    }


def cluster_agreement(
    truth: Mapping[str, object], groups: Mapping[str, object]
) -> tuple[float, float]:
    """Purity and completeness of ``groups`` against ``truth`` (image -> source), over the
    images in both: purity, the share of images in their group's majority source (1.0 when
    no group mixes sources); completeness, the share in their source's majority group
    (1.0 when no source is split)."""
    images = sorted(set(truth) & set(groups))
    if not images:
        return 1.0, 1.0

    def majority_share(by: Mapping, of: Mapping) -> float:
        counts: dict = {}
        for image in images:
            counts.setdefault(by[image], Counter())[of[image]] += 1
        return sum(c.most_common(1)[0][1] for c in counts.values()) / len(images)

    return majority_share(groups, truth), majority_share(truth, groups)


# --- one cell filed under two classes ---------------------------------------------------

# Two overlapping slides can show the same white cell. Of the 42 related pairs of Kaggle's
# originals (640x480), aligned on their keypoints, 29 have their nuclei (the largest
# region each) 0.2-34 px apart, the same cell; the other 13 are 287 px apart or more,
# neighbouring fields with different cells (docs/benchmarks.md).
SAME_CELL_PIXELS = 80  # at the originals' resolution


@dataclass(frozen=True)
class SlideView:
    """What ``nucleus_shift`` needs of one slide: its keypoints (in the ``FRAME``) and its
    nucleus' centre (``wbc.crop.nucleus_mask``, the largest region; None: no nucleus), in
    the frame's coordinates, and the frame's pixels per pixel of the slide."""

    feats: Features
    nucleus: np.ndarray | None
    scale: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> SlideView:
        scale = np.array(FRAME) / rgb.shape[1::-1]
        ys, xs = np.nonzero(nucleus_mask(rgb))
        # to the frame's coordinates (the keypoints'), pixel centres aligned
        centre = (np.array([xs.mean(), ys.mean()]) + 0.5) * scale - 0.5 if len(xs) else None
        return cls(_features(_grey_frame(rgb)), centre, scale)


def nucleus_shift(a: np.ndarray | SlideView, b: np.ndarray | SlideView) -> float | None:
    """How far apart two slides' nuclei are (RGB images, or their ``SlideView``), in
    pixels of ``b``, once ``a`` is mapped onto ``b`` by the shift (rotation, scale) that
    aligns their keypoints; None when the fields do not align or a slide shows no
    nucleus."""
    a, b = (v if isinstance(v, SlideView) else SlideView.of(v) for v in (a, b))
    if a.nucleus is None or b.nucleus is None or min(len(a.feats), len(b.feats)) < 2:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(
        a.feats.desc.astype(np.float32), b.feats.desc.astype(np.float32), k=2
    )
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < RELATED_INLIERS:
        return None
    shift = slide_shift(
        a.feats.xy[[m.queryIdx for m in good]], b.feats.xy[[m.trainIdx for m in good]]
    )
    if shift is None or int(shift[1].sum()) < RELATED_INLIERS:
        return None
    mapped = shift[0] @ np.append(a.nucleus, 1.0)
    return float(np.linalg.norm((mapped - b.nucleus) / b.scale))


def cells_under_two_labels(
    rows: Sequence[Mapping[str, str]], dataset_root: str | Path
) -> dict[str, str]:
    """Images of one cell filed under two classes. ``rows``: each image's ``group`` (its
    source cell group), ``original`` (the slide it was matched to; empty: none) and
    ``label`` (its folder). Within a group, a slide whose images lie in two class folders,
    or two slides whose images lie in different folders and whose nuclei sit at one place
    once the slides are aligned (``nucleus_shift`` <= ``SAME_CELL_PIXELS``): the same cell.
    Image -> the finding, for every image matched to such a slide; ``{}`` without
    originals. Slides that ``labels.csv`` lists with two cells are not judged: which
    nucleus is which cell is not known."""
    cells = read_original_labels(dataset_root)
    paths = {p.stem: p for p in find_originals(dataset_root)}
    folders = defaultdict(lambda: defaultdict(set))  # group -> slide -> its images' labels
    for row in rows:
        slide = row["original"]
        if slide in paths and len(cells.get(slide, ())) <= 1:
            folders[row["group"]][slide].add(row["label"])
    views: dict[str, SlideView | None] = {}  # each slide read and described once

    def view(slide: str) -> SlideView | None:
        if slide not in views:
            try:
                views[slide] = SlideView.of(read_rgb(paths[slide]))
            except (OSError, UnreadableImage) as err:  # the index skipped it too
                log.warning("original %s not compared: %s", slide, err)
                views[slide] = None
        return views[slide]

    found: dict[str, list[str]] = defaultdict(list)
    for labels in folders.values():
        if len(set().union(*labels.values())) < 2:
            continue
        named = {slide: f"{slide} ({', '.join(sorted(of))})" for slide, of in labels.items()}
        for slide in (s for s, of in sorted(labels.items()) if len(of) > 1):
            found[slide].append(f"the copies of {named[slide]} lie in two folders")
        for a in sorted(labels):
            for b in sorted(s for s in labels if s > a and labels[s] != labels[a]):
                seen_a, seen_b = view(a), view(b)
                if seen_a is None or seen_b is None:
                    continue
                shift = nucleus_shift(seen_a, seen_b)
                log.debug("originals %s and %s: nuclei %s px apart", a, b, shift)
                if shift is not None and shift <= SAME_CELL_PIXELS:
                    finding = (
                        f"{named[a]} and {named[b]} show one cell "
                        f"(nuclei {shift:.0f} px apart once aligned)"
                    )
                    found[a].append(finding)
                    found[b].append(finding)
    return {
        row["image"]: "; ".join(found[row["original"]])
        for row in sorted(rows, key=lambda r: r["image"])
        if row["original"] in found
    }
