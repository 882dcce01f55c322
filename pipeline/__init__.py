"""ecgbridge's digitizer: pictures of 12-lead ECGs in, 12-lead signals in microvolts out.

This package never imports `ecgbridge`, pydicom or pynetdicom: it takes pixels
(H x W x 3 uint8 arrays) and returns `DigitizationResult`s.
"""
from pipeline.errors import DigitizerError
from pipeline.types import LEADS, SEGMENTATION_CLASSES, DigitizationResult, DigitizeOptions

__version__ = "0.1.0"

__all__ = [
    "LEADS",
    "SEGMENTATION_CLASSES",
    "DigitizationResult",
    "DigitizeOptions",
    "DigitizerError",
    "__version__",
]
