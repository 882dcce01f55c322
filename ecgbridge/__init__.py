"""ecgbridge: a DICOM service that digitizes Secondary Capture ECG images."""

__version__ = "0.1.0"
