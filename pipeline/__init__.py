"""ecgbridge's digitizer: pictures of 12-lead ECGs in, 12-lead signals in microvolts out.

This package never imports `ecgbridge`, pydicom or pynetdicom: it takes pixels
(H x W x 3 uint8 arrays) and returns `DigitizationResult`s.
"""
from pipeline.errors import DigitizerError
from pipeline.types import LEADS, SEGMENTATION_CLASSES, DigitizationResult, DigitizeOptions

__version__ = "0.1.0"

_LAZY = {
    "Digitizer": ("pipeline.digitizer", "Digitizer"),
    "load_image": ("pipeline.io", "load_image"),
    "render_qa": ("pipeline.qa", "render_qa"),
}


def __getattr__(name: str) -> object:
    """Heavy entry points (OpenCV, SciPy, torch) load on first use, not on `import pipeline`."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


__all__ = [
    "LEADS",
    "SEGMENTATION_CLASSES",
    "DigitizationResult",
    "DigitizeOptions",
    "Digitizer",
    "DigitizerError",
    "__version__",
    "load_image",
    "render_qa",
]
