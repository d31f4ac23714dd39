"""The S3 fixtures of tests/remote (test credentials, a fresh bucket per test), shared here."""

from tests.remote.conftest import bucket, s3_env

__all__ = ["bucket", "s3_env"]
