"""DICOM status codes we answer with, and the one place errors become statuses."""
from __future__ import annotations

from enum import IntEnum

from ecgbridge.errors import (
    CorruptObjectError,
    EcgBridgeError,
    InputError,
    OutOfResourcesError,
    UnsupportedObjectError,
)


class Status(IntEnum):
    """Statuses of C-STORE / C-ECHO responses (PS3.4 Annex B and C)."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    PROCESSING_FAILURE = 0x0110


def status_for_error(error: BaseException) -> Status:
    """Map an exception raised while accepting an object to the status we answer with.

    Resource problems are retryable by the sender (0xA700); objects we can never use are
    refused as not understood (0xC000); anything unexpected is a processing failure.
    """
    if isinstance(error, (OutOfResourcesError, OSError)):
        return Status.OUT_OF_RESOURCES
    if isinstance(error, UnsupportedObjectError):
        return Status.DATASET_DOES_NOT_MATCH_SOP_CLASS
    if isinstance(error, (CorruptObjectError, InputError)):
        return Status.CANNOT_UNDERSTAND
    if isinstance(error, EcgBridgeError):
        return Status.PROCESSING_FAILURE
    return Status.PROCESSING_FAILURE
