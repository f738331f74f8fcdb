"""White-blood-cell workflow logic: the rule scripts in ``workflow/scripts`` are thin
wrappers around these modules, which the tests import directly.

This file and ``source.py``, ``imports.py`` and ``models/__init__.py`` are read by the
Snakefile at parse time: they need nothing beyond the standard library.
"""

# the reference study's classes: what Kaggle's archive holds. A run's classes are its TRAIN
# folders (wbc.dataset.manifest_classes); these are only expected of Kaggle's layout.
CLASSES = ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL")
# the dataset's folders, and the split files made from them (TRAIN -> train + val)
FOLDERS = ("TRAIN", "TEST", "TEST_SIMPLE")
SPLITS = ("train", "val", "test", "test_simple")
FOLDER_OF_SPLIT = {"train": "TRAIN", "val": "TRAIN", "test": "TEST", "test_simple": "TEST_SIMPLE"}
# the splits every model is scored on (metrics.json, predictions.tsv), in display order;
# cv: TRAIN's images scored out of fold (config key split.folds >= 2)
EVAL_SPLITS = ("cv", "val", "test", "test_simple")

# the image files the workflow reads (other files in class folders are skipped)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp")

# crop status of an image, as written to results/qc/crops.tsv
CROPPED, NO_CELL, UNREADABLE = "cropped", "no_cell_found", "unreadable"
