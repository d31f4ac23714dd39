"""The shells users construct: Run, Repo (and their async twins)."""
