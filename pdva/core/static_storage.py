"""Static files: hashed and compressed by whitenoise, collected into STATIC_ROOT when they change.

Collection runs in setup, at image build, or on `pdva serve`'s start when the sources changed since the
last one (a stamp in STATIC_ROOT records what was collected).
"""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

import brotli
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage

STAMP_SUFFIX = ".collected"  # next to STATIC_ROOT, not in it: everything in it is served
# Brotli's default (11) is some 15 times slower than 9 for a few per cent smaller files: with the API
# docs' bundles that made a first collection take minutes on a busy 2-core machine.
BROTLI_QUALITY = 9
# Source maps are fetched only by a developer's browser tools: not worth compressing.
SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")


class QuickerCompressor(Compressor):
    @staticmethod
    def compress_brotli(data: bytes) -> bytes:
        return brotli.compress(data, quality=BROTLI_QUALITY)


class RegistryStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """whitenoise's hashed, gzip- and brotli-compressed storage; quicker brotli, source maps as they are."""

    def create_compressor(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["extensions"] = SKIP_COMPRESS_EXTENSIONS
        return QuickerCompressor(**kwargs)


def static_fingerprint() -> str:
    """A digest of every static source file's name, size and modification time."""
    digest = hashlib.sha256(settings.STORAGES["staticfiles"]["BACKEND"].encode() + b"\n")
    rows = []
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            stat = Path(storage.path(path)).stat()
            prefix = getattr(storage, "prefix", None) or ""
            rows.append(f"{prefix}/{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for row in sorted(rows):
        digest.update(row.encode() + b"\n")
    return digest.hexdigest()


def _stamp(root: Path) -> Path:
    return root.with_name(root.name + STAMP_SUFFIX)


def _collected(root: Path, fingerprint: str) -> bool:
    stamp = _stamp(root)
    if not stamp.exists() or stamp.read_text().strip() != fingerprint:
        return False
    manifest = getattr(staticfiles_storage, "manifest_name", None)
    return manifest is None or (root / manifest).exists()


class StaticFilesNotWritable(RuntimeError):
    pass


def ensure_static() -> bool:
    """Collect static files into STATIC_ROOT if they changed since the last collection; True if it ran.

    A lock keeps two servers starting on one machine from collecting at the same time.
    """
    root = Path(settings.STATIC_ROOT)
    fingerprint = static_fingerprint()
    if _collected(root, fingerprint):
        return False
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(root.with_name(root.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _collected(root, fingerprint):  # another server collected while we waited
                return False
            call_command("collectstatic", interactive=False, verbosity=0)
            _stamp(root).write_text(fingerprint + "\n")
    except PermissionError as exc:
        raise StaticFilesNotWritable(
            f"cannot collect static files into {root} ({exc.strerror}): run `pdva collectstatic` as its "
            "owner, or set PDVA_VAR_DIR to a writable directory"
        ) from exc
    return True
