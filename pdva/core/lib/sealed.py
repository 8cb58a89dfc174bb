"""Encrypted, authenticated byte streams for backup files (AES-256-GCM in chunks), written and read
without holding the file: a backup of a national registry is gigabytes.

Layout: ``MAGIC``, a random 16-byte file id, then records of a 4-byte big-endian length and that many
bytes of AES-GCM output (ciphertext and its 16-byte tag). Each file has its own key, derived from the
configured key and its file id (HKDF-SHA256), so chunk numbers can serve as nonces. Every chunk's
associated data names the file id and whether it is the last chunk: a reordered, dropped, appended or
altered chunk, a truncated file or another key fails to open, never gives wrong plaintext.
"""

from __future__ import annotations

import base64
import os
import struct
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"PDVASEAL1\n"
FILE_ID_BYTES = 16
CHUNK = 1024 * 1024  # plaintext bytes per record
TAG_BYTES = 16
_LENGTH = struct.Struct(">I")


class SealError(ValueError):
    """The stream cannot be opened: not sealed, another key, altered or truncated."""


def parse_key(text: str) -> bytes:
    """The 32-byte key from its url-safe base64 text (the form ``make_key`` prints)."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (ValueError, TypeError) as exc:
        raise ValueError("not url-safe base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{len(raw)} bytes, not 32")
    return raw


def make_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _file_cipher(key: bytes, file_id: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=file_id, info=b"pdva backup").derive(key)
    return AESGCM(derived)


def _nonce(counter: int) -> bytes:
    return counter.to_bytes(12, "big")


def _aad(file_id: bytes, final: bool) -> bytes:
    return MAGIC + file_id + (b"\x01" if final else b"\x00")


class SealedWriter:
    """A write-only file object: what is written to it reaches ``raw`` encrypted. ``close()`` writes the
    final chunk (always, even for an empty stream); without it the file is incomplete and will not open."""

    def __init__(self, raw: IO[bytes], key: bytes) -> None:
        self.raw = raw
        self.file_id = os.urandom(FILE_ID_BYTES)
        self.cipher = _file_cipher(key, self.file_id)
        self.buffer = bytearray()
        self.counter = 0
        self.closed = False
        raw.write(MAGIC + self.file_id)

    def _emit(self, data: bytes, final: bool) -> None:
        sealed = self.cipher.encrypt(_nonce(self.counter), data, _aad(self.file_id, final))
        self.counter += 1
        self.raw.write(_LENGTH.pack(len(sealed)) + sealed)

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed sealed stream")
        self.buffer += data
        # Keep at least one byte back: the last chunk must be written (and flagged) by close().
        while len(self.buffer) > CHUNK:
            self._emit(bytes(self.buffer[:CHUNK]), final=False)
            del self.buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self.buffer), final=True)
            self.buffer.clear()
            self.closed = True
            self.raw.flush()

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SealedReader:
    """A read-only file object giving the plaintext of a sealed stream, chunk by chunk."""

    def __init__(self, raw: IO[bytes], key: bytes) -> None:
        self.raw = raw
        head = raw.read(len(MAGIC) + FILE_ID_BYTES)
        if not is_sealed(head) or len(head) < len(MAGIC) + FILE_ID_BYTES:
            raise SealError("not an encrypted pdva backup")
        self.file_id = head[len(MAGIC) :]
        self.cipher = _file_cipher(key, self.file_id)
        self.counter = 0
        self.buffer = b""
        self.done = False

    def _record(self) -> bytes | None:
        length = self.raw.read(_LENGTH.size)
        if not length:
            return None
        if len(length) < _LENGTH.size:
            raise SealError("the file is truncated")
        (size,) = _LENGTH.unpack(length)
        if size < TAG_BYTES or size > CHUNK + TAG_BYTES:
            raise SealError("the file is damaged (a record of an impossible length)")
        sealed = self.raw.read(size)
        if len(sealed) < size:
            raise SealError("the file is truncated")
        return sealed

    def _next_chunk(self) -> None:
        sealed = self._record()
        if sealed is None:
            raise SealError("the file is truncated (it ends before its last chunk)")
        nonce = _nonce(self.counter)
        self.counter += 1
        try:
            self.buffer += self.cipher.decrypt(nonce, sealed, _aad(self.file_id, False))
            return
        except InvalidTag:
            pass
        try:
            self.buffer += self.cipher.decrypt(nonce, sealed, _aad(self.file_id, True))
        except InvalidTag:
            raise SealError(
                "the file cannot be decrypted with this key (another key, or the file was changed)"
            ) from None
        self.done = True
        if self.raw.read(1):
            raise SealError("the file is damaged (data after its last chunk)")

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.buffer) < size):
            self._next_chunk()
        if size < 0:
            out, self.buffer = self.buffer, b""
        else:
            out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def close(self) -> None:
        self.raw.close()
