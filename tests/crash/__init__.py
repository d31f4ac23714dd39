"""Crash tests, and the crash harness they share with ``tools/crashtest.py``.

``test_*.py`` are the tests. ``checks.py`` (SIGKILL trials of a training process),
``manage_checks.py`` (management operations killed beside a live writer), ``upload_checks.py``
(uploads killed mid-way) and ``faults.py`` (byte faults on a segment) are the harness: imported
as ``tests.crash.*`` by the tests and by ``python -m tools.crashtest`` from the repository root,
they import aim and the test extra's libraries, never pytest.
"""
