"""The renderer's view of the lead layouts: the templates live in `pipeline.layouts`."""
from pipeline.layouts import LAYOUTS, LayoutTemplate, get_layout, parse_lead

__all__ = ["LAYOUTS", "LayoutTemplate", "get_layout", "parse_lead"]
