"""Registers the example's components. Imports nothing heavy: registration is by string."""

from conduix.connector import hookimpl


@hookimpl
def conduix_register_components(registry):
    registry.add_stage("mask", "conduix_example_plugin.mask:MaskStage")
