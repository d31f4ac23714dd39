"""S3Store: immutable objects in a bucket, through boto3.

Every segment object is written at most once: ``If-None-Match: *`` (a conditional write that S3
and compatible stores honour) refuses to replace an existing object; our SHA-256 travels as the
object's checksum (S3 verifies it before it stores anything) and in its metadata (``sha256``),
so a later upload or download can compare without reading the bytes. A refused write whose
existing object has our SHA-256 counts as done; different bytes are a conflict, and the remote
object is left alone.

Transient failures (connection resets, 5xx, throttling) are retried by botocore's standard
retry mode with backoff. Credentials come from boto3's standard chain and never appear in a
message. boto3 is imported when a store is made, never at module import.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from aim.errors import MissingExtraError, RemoteError
from aim.remote.keys import InvalidRemoteNameError
from aim.remote.store import conflict

MULTIPART_THRESHOLD = 8 * 1024 * 1024  # segments rotate at 16 MiB: at most two parts
PART_SIZE = 8 * 1024 * 1024
_REFUSED_WRITE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
BUCKET_MAX_LENGTH = 255  # what us-east-1 allowed for legacy buckets; today's rule is 3-63


def validate_bucket(name: str) -> str:
    """Check only what must hold for any store: a name, without ``/`` (it would become part of
    the key), no longer than S3 ever allowed. The rest (case, ``_``, length 3-63...) differs
    between AWS today, legacy AWS buckets and S3-compatible stores: the store decides, and its
    refusal becomes one line (see ``S3Store._call``)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRemoteNameError("no bucket name given")
    if "/" in name:
        raise InvalidRemoteNameError(
            f"invalid bucket name {name!r}: a bucket name has no '/' (use --prefix for a folder "
            "inside the bucket)")
    if len(name) > BUCKET_MAX_LENGTH:
        raise InvalidRemoteNameError(
            f"invalid bucket name {name[:40]!r}...: {len(name)} characters, more than S3 ever "
            f"allowed ({BUCKET_MAX_LENGTH})")
    return name


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class S3Store:
    """One bucket (and key prefix) holding segments and manifests."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        client: Any = None,
        legacy_checksums: bool | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.bucket = validate_bucket(bucket)
        self.endpoint_url = endpoint_url
        if legacy_checksums is None:
            legacy_checksums = os.environ.get("AIM_S3_LEGACY_CHECKSUMS", "") not in ("", "0")
        self.legacy_checksums = legacy_checksums
        if client is None:
            attempts = max_attempts or int(os.environ.get("AIM_S3_MAX_ATTEMPTS", "8"))
            client = _make_client(endpoint_url, legacy_checksums, attempts)
        self.client = client
        self._errors = _botocore_errors()

    @property
    def where(self) -> str:
        """``s3://bucket`` (and the endpoint when not AWS), for messages."""
        return f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")

    # --- bucket ----------------------------------------------------------------------------------
    def bucket_exists(self) -> bool:
        """True when the bucket exists (and we may use it)."""
        try:
            self._call("check the bucket", self.client.head_bucket, Bucket=self.bucket)
            return True
        except RemoteError as exc:
            if getattr(exc, "code", None) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise

    def ensure_bucket(self) -> bool:
        """Create the bucket when it does not exist; True when it was created."""
        if self.bucket_exists():
            return False
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._call("create the bucket", self.client.create_bucket, **kwargs)
        except RemoteError as exc:
            if getattr(exc, "code", None) not in ("BucketAlreadyOwnedByYou",):
                raise
        return True

    # --- listing ---------------------------------------------------------------------------------
    def list_objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        it = iter(pages)
        while True:
            page = self._call("list objects", next, it, None)
            if page is None:
                return
            for obj in page.get("Contents", []):
                yield obj["Key"], int(obj["Size"])

    # --- writing ---------------------------------------------------------------------------------
    def put_immutable(self, key: str, data: bytes, sha256: str) -> bool:
        """Write ``data`` at ``key`` unless an object is there. True when written; False when the
        same bytes were already there; ``RemoteConflictError`` when different bytes are."""
        # Checked here too, not only by S3's checksum header: an S3-compatible store may not
        # verify it (moto does not), and a wrong SHA-256 would then be recorded as the truth.
        if sha256_hex(data) != sha256:
            raise RemoteError(f"{key}: the bytes to store do not match the SHA-256 given")
        try:
            if len(data) > MULTIPART_THRESHOLD:
                self._put_multipart(key, data, sha256)
            else:
                self._call(f"upload {key}", self.client.put_object, Bucket=self.bucket, Key=key,
                           Body=data, IfNoneMatch="*", Metadata={"sha256": sha256},
                           **self._checksum_args(data, sha256))
            return True
        except RemoteError as exc:
            if getattr(exc, "code", None) not in _REFUSED_WRITE:
                raise
        there = self.remote_sha256(key)
        if there == sha256:
            return False
        raise conflict(key, self.where, there, sha256)

    def _checksum_args(self, data: bytes, sha256: str) -> dict[str, str]:
        if self.legacy_checksums:  # stores that reject the x-amz-checksum-* headers
            return {"ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode()}
        return {"ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256)).decode()}

    def _put_multipart(self, key: str, data: bytes, sha256: str) -> None:
        extra = {} if self.legacy_checksums else {"ChecksumAlgorithm": "SHA256"}
        upload = self._call(f"start uploading {key}", self.client.create_multipart_upload,
                            Bucket=self.bucket, Key=key, Metadata={"sha256": sha256}, **extra)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), PART_SIZE), 1):
                chunk = data[start:start + PART_SIZE]
                resp = self._call(f"upload part {number} of {key}", self.client.upload_part,
                                  Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                  Body=chunk, **self._checksum_args(chunk, sha256_hex(chunk)))
                part = {"PartNumber": number, "ETag": resp["ETag"]}
                if resp.get("ChecksumSHA256"):
                    part["ChecksumSHA256"] = resp["ChecksumSHA256"]
                parts.append(part)
            self._call(f"finish uploading {key}", self.client.complete_multipart_upload,
                       Bucket=self.bucket, Key=key, UploadId=upload_id, IfNoneMatch="*",
                       MultipartUpload={"Parts": parts})
        except BaseException:
            # An unfinished multipart upload is invisible; abort it so it does not cost storage.
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # the original error matters more
                pass
            raise

    # --- reading ---------------------------------------------------------------------------------
    def remote_sha256(self, key: str) -> str | None:
        """The SHA-256 an object was stored with (from its metadata), None when the object is
        missing; the object's bytes are hashed when it has no such metadata."""
        try:
            head = self._call(f"inspect {key}", self.client.head_object, Bucket=self.bucket, Key=key)
        except RemoteError as exc:
            if getattr(exc, "code", None) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        meta = head.get("Metadata") or {}
        if re.fullmatch(r"[0-9a-f]{64}", meta.get("sha256", "")):
            return meta["sha256"]
        data, _ = self.get_bytes(key)
        return sha256_hex(data)

    def get_bytes(self, key: str) -> tuple[bytes, str | None]:
        """An object's bytes and the SHA-256 recorded in its metadata (if any)."""
        resp = self._call(f"download {key}", self.client.get_object, Bucket=self.bucket, Key=key)
        body = self._call(f"download {key}", resp["Body"].read)
        return body, (resp.get("Metadata") or {}).get("sha256")

    def download_to(self, key: str, out: BinaryIO) -> tuple[str, str | None]:
        """Stream an object into ``out``; return (SHA-256 of what was written, recorded SHA-256)."""
        resp = self._call(f"download {key}", self.client.get_object, Bucket=self.bucket, Key=key)
        digest = hashlib.sha256()
        stream = resp["Body"]
        while True:
            chunk = self._call(f"download {key}", stream.read, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
        return digest.hexdigest(), (resp.get("Metadata") or {}).get("sha256")

    # --- errors ------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        errors = self._errors
        try:
            return fn(*args, **kwargs)
        except errors.NoCredentialsError:
            raise RemoteError(
                f"cannot {what}: no AWS credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
            ) from None
        except (errors.EndpointConnectionError, errors.ConnectTimeoutError,
                errors.ConnectionClosedError, errors.ReadTimeoutError) as exc:
            raise RemoteError(f"cannot {what}: {self.where} is unreachable ({type(exc).__name__})") from None
        except errors.ParamValidationError as exc:
            text = str(exc).splitlines()[-1].strip()
            if text.startswith("Invalid bucket name"):
                # botocore's own check, before any request; its message quotes two regexes.
                raise InvalidRemoteNameError(
                    f"invalid bucket name {self.bucket!r}: boto3 accepts only letters, digits, "
                    "'.', '-' and '_' (or an access point ARN)") from None
            raise RemoteError(f"cannot {what}: {text}") from None
        except errors.ClientError as exc:
            raise self._client_error(what, exc) from None
        except errors.BotoCoreError as exc:
            raise RemoteError(f"cannot {what} in {self.where}: {exc}") from None


    def _client_error(self, what: str, exc: Any) -> RemoteError:
        """The store's refusal as one line (and its code on ``.code``, for callers that expect
        some: a missing object, a conditional write refused)."""
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        code = str(err.get("Code") or status)
        message = err.get("Message") or code
        hint = None
        if code == "InvalidBucketName":
            text = f"{self.where} refused the bucket name {self.bucket!r} ({code}: {message})"
            hint = "use a name this store accepts (AWS today: 3-63 lowercase letters, digits, '.', '-')"
        elif code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId",
                      "SignatureDoesNotMatch"):
            text = f"cannot {what} in {self.where}: access denied ({code}: {message})"
            hint = "check the credentials and what they may do with this bucket"
        elif code == "400" and what == "check the bucket":
            # A HEAD answer has no body: 400 is all we learn. AWS answers it to a bucket name
            # it does not accept.
            text = (f"cannot {what} {self.bucket!r} in {self.where}: 400 Bad Request (does this "
                    "store accept the bucket name?)")
        else:
            text = f"cannot {what} in {self.where}: {code}: {message}"
        out = RemoteError(text, hint=hint)
        out.code = code  # type: ignore[attr-defined]
        return out


def _botocore_errors() -> Any:
    import botocore.exceptions

    return botocore.exceptions


def _make_client(endpoint_url: str | None, legacy_checksums: bool, max_attempts: int) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise MissingExtraError(
            "S3 needs boto3, which is not installed", hint="pip install 'aim[s3]'"
        ) from None
    options: dict[str, Any] = {
        "retries": {"max_attempts": max_attempts, "mode": "standard"},
        "connect_timeout": 10,
        "read_timeout": 60,
    }
    if endpoint_url:
        options["s3"] = {"addressing_style": "path"}  # most S3-compatible servers want this
    if legacy_checksums:
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, config=Config(**options),
                          region_name=session.region_name or "us-east-1")
