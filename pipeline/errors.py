"""The digitizer's error tree: one class per way an input can be refused.

Every error carries a short machine-readable `reason` code and a human sentence; callers
(the service, the CLI) map them to outcomes in one place.
"""
from __future__ import annotations


class DigitizerError(Exception):
    """Base class: this input cannot be digitized. `reason` is a stable snake_case code."""

    reason: str = "digitizer_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAnImageError(DigitizerError):
    """The bytes are not a decodable image (wrong format, truncated)."""

    reason = "not_an_image"


class ImageTooLargeError(DigitizerError):
    """The image's declared size exceeds the pixel limit; refused before full decoding."""

    reason = "image_too_large"


class ImageTooSmallError(DigitizerError):
    """The image is too small to hold a readable ECG."""

    reason = "image_too_small"


class NoGridFoundError(DigitizerError):
    """No periodic ECG grid could be measured, and no other scale cue was found."""

    reason = "no_ecg_grid_found"


class NoTraceFoundError(DigitizerError):
    """No ECG trace could be found on the page (blank page, photo, not an ECG)."""

    reason = "no_ecg_trace_found"


class LayoutNotFoundError(DigitizerError):
    """The traces found fit no lead-layout template."""

    reason = "layout_not_found"


class ModelWeightsError(DigitizerError):
    """The shipped weights are missing or their sha256 does not match the model card."""

    reason = "model_weights_invalid"
