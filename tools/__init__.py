"""Developer tools: the demo, the benchmark, and the crash, load and GPU harnesses.

Scripts (``python tools/bench.py``); ``tools.crashtest`` runs as a module from the repository
root (``python -m tools.crashtest``) because it imports the crash harness in ``tests.crash``.
"""
