"""System params: what a run records about the process that produced it.

:func:`collect_system_params` gathers the interpreter, command line, working directory, host,
installed packages, git state and environment into one JSON-like dict (only dicts with str keys,
lists, str, int, float, bool and None), ready to be stored under :data:`SYSTEM_PARAMS_KEY`.

Secrets are redacted before anything leaves this module: environment variables whose *name*
looks secret (:func:`is_secret_name`), values of secret-looking command-line options
(``--api-key=...``, ``--token ...``), and credentials embedded in URLs anywhere
(``scheme://user:pass@host`` → ``scheme://user:<redacted>@host``).

Collection never raises for environmental reasons (no git, deleted cwd, odd environment): the
part that cannot be determined becomes ``None``.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.metadata import Distribution

SYSTEM_PARAMS_KEY = "__system_params"
REDACTED = "<redacted>"

# Substrings that mark a name as secret (matched case-insensitively, anywhere in the name).
#
# This deliberately over-matches: KEY also hits KEYBOARD or MONKEY, PASS hits PASSPORT or BYPASS,
# AUTH hits AUTHOR, SESSION hits TMUX_SESSION. That is on purpose. A harmless value redacted by
# mistake costs nothing (the run still records that the variable existed), while a leaked secret
# lands in run metadata that gets copied, synced and shared, and cannot be taken back. So when in
# doubt, a name is treated as secret. PASSWORD and PASSWD are covered by PASS but listed anyway
# so the intent stays readable.
SECRET_NAME_PARTS: tuple[str, ...] = (
    "KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "CREDENTIAL", "AUTH", "PRIVATE",
    "COOKIE", "SESSION",
)
# Prefixes that mark a name as secret. All of AWS_* is redacted (even AWS_REGION): the family mixes
# keys, session tokens and account ids, and telling them apart is not worth the risk.
SECRET_NAME_PREFIXES: tuple[str, ...] = ("AWS_",)

GIT_TIMEOUT_S = 2.0

# scheme://userinfo@ — the authority ends at the first "/", "?", "#", whitespace or quote, and the
# userinfo at the last "@" before that (as urllib.parse does), so a raw "@" inside a password is
# still covered. A raw "/", "?" or "#" in a password makes the URL invalid for every parser anyway.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s\"'<>]*)@")
# ?name=value / &name=value query parameters (signed URLs carry X-Amz-Credential, token=, ...).
_QUERY_PARAM = re.compile(r"(?P<sep>[?&])(?P<name>[^=&#\s\"'<>?]+)=(?P<value>[^&#\s\"'<>]*)")
# name=value argv items without dashes (hydra / fire style overrides such as ``db.password=x``).
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][\w.\-]*)=(?P<value>.*)", re.DOTALL)


def is_secret_name(name: str) -> bool:
    """Whether a variable or option named ``name`` probably holds a secret.

    Case-insensitive; ``-`` and ``_`` are equivalent (``api-key`` and ``API_KEY`` both match).
    True when the name contains one of :data:`SECRET_NAME_PARTS` or starts with ``AWS_``.
    """
    upper = name.upper().replace("-", "_")
    return upper.startswith(SECRET_NAME_PREFIXES) or any(part in upper for part in SECRET_NAME_PARTS)


def _redact_userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if not userinfo:
        return match.group(0)
    user, sep, _password = userinfo.partition(":")
    if sep:
        return f"{match.group('scheme')}{user}:{REDACTED}@"
    # A lone userinfo is often a token used as the user name (https://<token>@github.com).
    return f"{match.group('scheme')}{REDACTED}@"


def _redact_query_param(match: re.Match[str]) -> str:
    if match.group("value") and is_secret_name(match.group("name")):
        return f"{match.group('sep')}{match.group('name')}={REDACTED}"
    return match.group(0)


def redact_urls(text: str) -> str:
    """Redact credentials embedded in URLs anywhere in ``text``.

    ``scheme://user:pass@host`` → ``scheme://user:<redacted>@host``; ``scheme://token@host`` →
    ``scheme://<redacted>@host``; query parameters with secret-looking names
    (``?token=...``, ``&X-Amz-Credential=...``) get their value redacted.
    """
    if "://" not in text:
        return text
    text = _URL_USERINFO.sub(_redact_userinfo, text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_redact_query_param, text)
    return text


def redact_value(name: str, value: str) -> str:
    """The value to record for variable ``name``: :data:`REDACTED` when the name looks secret
    (empty values stay empty), otherwise ``value`` with URL credentials redacted."""
    if is_secret_name(name):
        return REDACTED if value else value
    return redact_urls(value)


def _clean_str(value: object) -> str:
    """``value`` as a str that encodes to UTF-8 (undecodable bytes from the OS become U+FFFD)."""
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with each value passed through :func:`redact_value`, sorted by name."""
    out: dict[str, str] = {}
    for raw_name, raw_value in env.items():
        name = _clean_str(raw_name)
        out[name] = redact_value(name, _clean_str(raw_value))
    return dict(sorted(out.items()))


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A copy of ``argv`` with secrets redacted.

    * ``--api-key=abc`` / ``-token=abc`` → ``--api-key=<redacted>`` when the option name is
      secret (:func:`is_secret_name`);
    * ``--token abc`` → ``--token <redacted>``: the item after a secret option is redacted unless
      it is itself a long option (``--...``);
    * ``db.password=abc`` (override style, no dashes) → ``db.password=<redacted>``;
    * URL credentials are redacted in every item.
    """
    out: list[str] = []
    redact_next = False
    for raw in argv:
        item = _clean_str(raw)
        if redact_next and not item.startswith("--"):
            out.append(REDACTED if item else item)
            redact_next = False
            continue
        redact_next = False
        if item.startswith("-") and len(item) > 1:
            option, eq, value = item.partition("=")
            name = option.lstrip("-")
            if name and is_secret_name(name):
                if eq:
                    out.append(f"{option}={REDACTED}" if value else item)
                else:
                    out.append(item)
                    redact_next = True
                continue
        elif (match := _ASSIGNMENT.fullmatch(item)) and is_secret_name(match.group("name")):
            out.append(f"{match.group('name')}={REDACTED}" if match.group("value") else item)
            continue
        out.append(redact_urls(item))
    return out


def _metadata_headers(dist: Distribution) -> tuple[str | None, str | None]:
    """(Name, Version) of ``dist``, read from the METADATA header without the email parser
    (which is ~10x slower and dominates the cost of listing packages)."""
    name = version = None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:
            break  # end of the header block; the long description follows
        field, sep, rest = line.partition(":")
        if not sep:
            continue
        field = field.strip().lower()
        if field == "name" and name is None:
            name = rest.strip()
        elif field == "version" and version is None:
            version = rest.strip()
        if name and version:
            break
    if not name or not version:
        meta = dist.metadata
        name = name or meta["Name"]
        version = version or meta["Version"]
    return name, version


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def collect_packages() -> dict[str, str] | None:
    """``{distribution name: version}`` of the installed distributions, sorted by name.

    A distribution found twice on ``sys.path`` is reported once, with the version that
    ``importlib.metadata.version`` (first on the path) gives.
    """
    try:
        import importlib.metadata  # ~20 ms (it pulls in the email package): only when collecting

        found: dict[str, tuple[str, str]] = {}
        for dist in importlib.metadata.distributions():
            try:
                name, version = _metadata_headers(dist)
            except Exception:  # a broken install must not break the run
                continue
            if not name or not version:
                continue
            found.setdefault(_normalize(name), (_clean_str(name), _clean_str(version)))
        return {name: version for _key, (name, version) in sorted(found.items())}
    except Exception:
        return None


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_OPTIONAL_LOCKS"] = "0"  # `git status` must not take index.lock from under the user
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def collect_git(cwd: str | None) -> dict[str, Any] | None:
    """``{"commit", "branch", "dirty"}`` of the git work tree holding ``cwd``, else ``None``.

    One ``git status --porcelain=v2 --branch`` call. ``commit`` is the 40-hex HEAD (``None``
    before the first commit); ``branch`` is ``None`` on a detached HEAD; ``dirty`` is whether
    tracked files differ from HEAD (staged or not; untracked files do not count, as with
    ``git describe --dirty``). ``None`` when ``cwd`` is not in a work tree, git is missing, or it
    fails or takes longer than :data:`GIT_TIMEOUT_S`.
    """
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no",
             "--ignore-submodules=dirty"],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_S, env=_git_env(), check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    commit: str | None = None
    branch: str | None = None
    dirty = False
    saw_header = False
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            saw_header = True
            oid = line[len("# branch.oid "):].strip()
            commit = oid if re.fullmatch(r"[0-9a-f]{40,64}", oid) else None  # "(initial)"
        elif line.startswith("# branch.head "):
            head = line[len("# branch.head "):].strip()
            branch = None if head == "(detached)" else _clean_str(head)
        elif line and not line.startswith("#"):
            dirty = True
    if not saw_header:
        return None
    return {"commit": commit, "branch": branch, "dirty": dirty}


def _safe(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


def _python() -> dict[str, str]:
    return {"version": platform.python_version(), "implementation": platform.python_implementation()}


def collect_system_params(cwd: str | None = None, env: Mapping[str, str] | None = None,
                          argv: list[str] | None = None) -> dict[str, Any]:
    """Everything a run records about its process, as a JSON-like dict, secrets redacted.

    Keys: ``executable``, ``argv``, ``cwd``, ``hostname``, ``pid``, ``python``
    (``{"version", "implementation"}``), ``platform``, ``packages`` (``{name: version}``),
    ``git`` (``{"commit", "branch", "dirty"}`` or ``None``) and ``env``. ``cwd``, ``env`` and
    ``argv`` default to the current process's (``os.getcwd()``, ``os.environ``, ``sys.argv``).
    Never raises for environmental reasons: a part that cannot be determined is ``None``.
    """
    if cwd is None:
        cwd = _safe(os.getcwd)
    elif not isinstance(cwd, str):
        cwd = _safe(os.fspath, cwd)
    if env is None:
        env = os.environ
    if argv is None:
        argv = getattr(sys, "argv", None) or []
    return {
        "executable": _safe(lambda: _clean_str(sys.executable) if sys.executable else None),
        "argv": _safe(redact_argv, argv),
        "cwd": _safe(_clean_str, cwd) if cwd is not None else None,
        "hostname": _safe(lambda: _clean_str(socket.gethostname()) or None),
        "pid": _safe(os.getpid),
        "python": _safe(_python),
        "platform": _safe(platform.platform),
        "packages": collect_packages(),
        "git": _safe(collect_git, cwd) if cwd is not None else None,
        "env": _safe(redact_env, env),
    }
