"""Templates for names built from records: the shared implementation in :mod:`conduix.templates`."""

from conduix.templates import Template, TemplateError, record_time

__all__ = ["Template", "TemplateError", "record_time"]
