"""Resumable, verified HTTP downloads with the standard library.

A download goes to ``<dest>.part`` (resumed with an HTTP Range request after an interruption) and
is renamed to ``dest`` only after its size, checksum and optional content check pass; a file that
fails a check is deleted, so nothing half-written is ever left under the final name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Callable

CHUNK = 1 << 20
USER_AGENT = "cocoop-data-scripts/1.0 (python urllib)"


class DownloadError(RuntimeError):
    """No mirror delivered a verified file; the message lists every attempt."""


class _Incomplete(Exception):
    pass


def hashes(path: str) -> tuple[str, str]:
    """(md5, sha256) hex digests of a file."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def check_file(path: str, md5: str | None = None, sha256: str | None = None) -> str:
    """Return the file's sha256; raise ValueError when a given md5/sha256 does not match."""
    got_md5, got_sha = hashes(path)
    if md5 and got_md5 != md5.lower():
        raise ValueError(f"md5 mismatch: expected {md5}, got {got_md5}")
    if sha256 and got_sha != sha256.lower():
        raise ValueError(f"sha256 mismatch: expected {sha256}, got {got_sha}")
    return got_sha


def _fetch(url: str, part: str, timeout: float, log: Callable[[str], None]) -> None:
    """Fetch ``url`` into ``part``, continuing from its current size when the server allows it."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the .part is already whole
            return
        raise
    with resp:
        if have and resp.status == 206:
            mode = "ab"
            log(f"    resuming at {have:,} bytes")
        else:
            mode, have = "wb", 0
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/html") and not url.endswith(".html"):
            raise ValueError("got an HTML page instead of the file (a login, quota or error page)")
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done, last = have, time.monotonic()
        with open(part, mode) as f:
            while True:
                try:
                    block = resp.read(CHUNK)
                except http.client.IncompleteRead as e:
                    f.write(e.partial)
                    raise _Incomplete(f"connection closed after {done + len(e.partial):,} bytes") from None
                if not block:
                    break
                f.write(block)
                done += len(block)
                if time.monotonic() - last > 10:
                    last = time.monotonic()
                    log(f"    {done / 2**20:,.0f} MiB" + (f" of {total / 2**20:,.0f} MiB" if total else ""))
        if total is not None and done < total:
            raise _Incomplete(f"connection closed after {done:,} of {total:,} bytes")


def download(
    urls: list[str] | tuple[str, ...],
    dest: str,
    md5: str | None = None,
    sha256: str | None = None,
    validate: Callable[[str], None] | None = None,
    attempts: int = 3,
    timeout: float = 60.0,
    log: Callable[[str], None] = print,
) -> str:
    """Download ``dest`` from the first mirror that delivers a file passing all checks; return its sha256.

    Interrupted transfers are resumed (up to ``attempts`` tries per mirror, and across runs: the
    ``.part`` file stays); HTTP errors move on to the next mirror; a checksum or content failure
    deletes the ``.part`` file and moves on to the next mirror.
    """
    part = dest + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    failures = []
    for url in urls:
        log(f"  fetching {url}")
        for attempt in range(1, attempts + 1):
            try:
                _fetch(url, part, timeout, log)
            except _Incomplete as e:
                failures.append(f"{url}: {e}")
                log(f"    interrupted ({e}); {'retrying' if attempt < attempts else 'giving up'}")
                continue
            except urllib.error.HTTPError as e:
                failures.append(f"{url}: HTTP {e.code} {e.reason}")
                if e.code >= 500 and attempt < attempts:
                    continue
                break
            except ValueError as e:  # wrong content type
                failures.append(f"{url}: {e}")
                _remove(part)
                break
            except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
                failures.append(f"{url}: {getattr(e, 'reason', e)}")
                log(f"    failed ({getattr(e, 'reason', e)}); {'retrying' if attempt < attempts else 'next source'}")
                if attempt < attempts:
                    time.sleep(min(2 ** attempt, 10) if not url.startswith("http://127.0.0.1") else 0)
                    continue
                break
            try:
                digest = check_file(part, md5, sha256)
                if validate is not None:
                    validate(part)
            except ValueError as e:
                failures.append(f"{url}: {e}")
                log(f"    rejected: {e}; deleted the download")
                _remove(part)
                break
            os.replace(part, dest)
            return digest
    raise DownloadError(
        f"could not download {os.path.basename(dest)}:\n  " + "\n  ".join(failures or ["no sources"])
        + (f"\n  (an interrupted download is kept as {part} and resumed next time)"
           if os.path.exists(part) else "")
    )


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
