"""Encrypted backup streams (pdva.core.lib.sealed): what is sealed opens only with its key, exactly as written,
and any change, loss or reordering of the sealed bytes is refused."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdva.core.lib import sealed
from pdva.core.lib.sealed import CHUNK, MAGIC, SealedReader, SealedWriter, SealError

KEY = sealed.parse_key(sealed.make_key())


def seal(data: bytes, key: bytes = KEY, pieces: int = 1) -> bytes:
    out = io.BytesIO()
    with SealedWriter(out, key) as writer:
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
    return out.getvalue()


def unseal(blob: bytes, key: bytes = KEY, read_size: int = -1) -> bytes:
    reader = SealedReader(io.BytesIO(blob), key)
    if read_size < 0:
        return reader.read()
    parts = []
    while part := reader.read(read_size):
        parts.append(part)
    return b"".join(parts)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_round_trip_at_chunk_boundaries(size):
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    blob = seal(data, pieces=3)
    assert blob.startswith(MAGIC) and unseal(blob) == data and unseal(blob, read_size=65536) == data


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=7))
def test_round_trip_of_any_bytes_written_in_any_pieces(data, pieces):
    assert unseal(seal(data, pieces=pieces)) == data


def test_the_sealed_bytes_do_not_show_the_plaintext():
    data = b'{"format": "pdva-backup"} 9434765919 Smith' * 100
    blob = seal(data)
    assert b"pdva-backup" not in blob and b"9434765919" not in blob


def test_each_file_is_sealed_differently():
    assert seal(b"same") != seal(b"same")


def test_another_key_is_refused():
    other = sealed.parse_key(sealed.make_key())
    with pytest.raises(SealError, match="cannot be decrypted with this key"):
        unseal(seal(b"x" * 10), other)


def _records(blob: bytes) -> tuple[bytes, list[bytes]]:
    head, rest = blob[: len(MAGIC) + 16], blob[len(MAGIC) + 16 :]
    records = []
    while rest:
        n = int.from_bytes(rest[:4], "big")
        records.append(rest[: 4 + n])
        rest = rest[4 + n :]
    return head, records


@pytest.mark.parametrize(
    "damage", ["flipped byte", "last chunk dropped", "chunks swapped", "cut short", "appended"]
)
def test_damage_is_refused(damage):
    blob = seal(b"a" * (2 * CHUNK + 10))
    head, records = _records(blob)
    assert len(records) == 3
    if damage == "flipped byte":
        middle = len(blob) // 2
        blob = blob[:middle] + bytes([blob[middle] ^ 1]) + blob[middle + 1 :]
    elif damage == "last chunk dropped":
        blob = head + b"".join(records[:-1])
    elif damage == "chunks swapped":
        blob = head + records[1] + records[0] + records[2]
    elif damage == "cut short":
        blob = blob[:-7]
    else:
        blob = blob + records[-1]
    with pytest.raises(SealError):
        unseal(blob)


def test_a_plain_file_is_not_taken_for_a_sealed_one():
    assert not sealed.is_sealed(b"\x1f\x8b\x08")
    with pytest.raises(SealError, match="not an encrypted pdva backup"):
        SealedReader(io.BytesIO(b"\x1f\x8b\x08\x00plain gzip"), KEY)


@pytest.mark.parametrize("text", ["", "short", "not base64 !!", sealed.make_key()[:-4]])
def test_keys_are_checked(text):
    with pytest.raises(ValueError):
        sealed.parse_key(text)
