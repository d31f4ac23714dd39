"""Importers from other trackers (``aim convert``): each reads its source with the source's own
library and writes runs through ``builder.RunBuilder`` (docs/convert.md)."""
