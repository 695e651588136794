"""An example Conduix plugin: the ``mask`` stage."""
