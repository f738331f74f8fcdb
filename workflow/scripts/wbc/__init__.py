"""White-blood-cell workflow logic: the rule scripts in ``workflow/scripts`` are thin
wrappers around these modules, which the tests import directly."""

CLASSES = ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL")
SPLITS = ("TRAIN", "TEST", "TEST_SIMPLE")

# crop status of an image, as written to results/qc/crops.tsv
CROPPED, NO_CELL, UNREADABLE = "cropped", "no_cell_found", "unreadable"
