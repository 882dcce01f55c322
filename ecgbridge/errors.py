"""ecgbridge's error tree. Every failure the service can meet is one of these classes.

`ecgbridge.dicom.status.status_for_error` maps them to DICOM statuses in one place; the job
store records `reason` (a stable snake_case code) and the message.
"""
from __future__ import annotations


class EcgBridgeError(Exception):
    """Base class. `reason` is a stable snake_case code stored with failed jobs."""

    reason: str = "ecgbridge_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EcgBridgeError):
    """The configuration is invalid; the message names the offending key."""

    reason = "config_invalid"


class InputError(EcgBridgeError):
    """A received or swept object cannot be used as an ECG image (permanent)."""

    reason = "input_invalid"


class UnsupportedObjectError(InputError):
    """The object is DICOM but of a kind we do not digitize (SOP class, photometry, ...)."""

    reason = "unsupported_object"


class CorruptObjectError(InputError):
    """The object could not be parsed or its pixel data could not be decoded."""

    reason = "corrupt_object"


class OutOfResourcesError(EcgBridgeError):
    """Disk full, database locked or unwritable: the object was NOT accepted (retryable)."""

    reason = "out_of_resources"


class OutputError(EcgBridgeError):
    """A result object violates its IOD's limits and must not be sent."""

    reason = "output_invalid"


class DeliveryError(EcgBridgeError):
    """Sending a result failed. `retryable` says whether the outbox should try again."""

    reason = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
