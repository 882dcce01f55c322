"""Page segmentation: a small U-Net labelling background, grid, text and trace pixels.

Use `Segmenter(...).segment(images)`; see `pipeline.segment.infer`.
"""
from pipeline.segment.infer import SegmentationMaps, Segmenter, resolve_device

__all__ = ["SegmentationMaps", "Segmenter", "resolve_device"]
