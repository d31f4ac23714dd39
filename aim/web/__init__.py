"""``aim up``: the web UI's server (``app``), its API's pieces and its static page."""
