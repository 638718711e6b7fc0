import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("MINIGEN_QUIET", "1")
# the notebooks under nbval run in kernels started from here: oneDNN capped at AVX2, as their
# stored outputs were computed (see scripts/build_book.sh)
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
# ... and the chapters' checks of the text's claims about the book's run are errors, not notes
# (minigen.utils.book_claims)
os.environ["MINIGEN_STRICT_CLAIMS"] = "1"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is present")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
