"""The pure part of the tamper-evident audit chain: canonical serialisation, hashing, sealing.

Each entry's hash is SHA-256 over its canonical JSON plus the previous entry's hash, so editing,
deleting, inserting or reordering any entry breaks the chain. The hash is then sealed with an HMAC
whose key is not in the database, so someone with write access to the database alone cannot
recompute a consistent chain after tampering.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "seq",
    "timestamp",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "site_id",
    "before",
    "after",
    "reason",
)


def json_value(value: Any) -> Any:
    """Convert a model value to the JSON form stored in the audit log (stable across databases)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in audit data")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | float | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


def canonical(entry: Mapping[str, Any]) -> bytes:
    payload = {name: entry[name] for name in HASHED_FIELDS}
    ts = payload["timestamp"]
    if isinstance(ts, dt.datetime):
        payload["timestamp"] = ts.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: Mapping[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry) + prev_hash.encode()).hexdigest()


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
_KEY_PREFIXES = [(name, _CANONICAL.encode(name) + ":") for name in sorted(HASHED_FIELDS)]


def entry_hash_and_json(entry: Mapping[str, Any], prev_hash: str) -> tuple[str, str | None, str | None]:
    """entry_hash(), and the canonical JSON text of 'before' and 'after' it covered (None for null).

    The same bytes as canonical(), put together field by field (JSON nests: an object's text is its
    members' texts joined), so a bulk insert can send these texts as the JSON columns instead of
    encoding the values a second time.
    """
    texts: dict[str, str] = {}
    parts = []
    for name, prefix in _KEY_PREFIXES:
        value = entry[name]
        if name == "timestamp" and isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        text = _CANONICAL.encode(value)
        if name in ("before", "after"):
            texts[name] = text
        parts.append(prefix + text)
    digest = hashlib.sha256(("{" + ",".join(parts) + "}").encode() + prev_hash.encode()).hexdigest()
    before, after = texts["before"], texts["after"]
    return digest, None if entry["before"] is None else before, None if entry["after"] is None else after


def seal(key: str, digest: str) -> str:
    return hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest()


def blind(key: str, value: str) -> str:
    """A keyed fingerprint of a secret value: shows in the audit log that it changed, never what it is."""
    return "hmac:" + hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


class ChainBreak(Exception):
    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(f"audit entry {seq}: {problem}")
        self.seq = seq
        self.problem = problem


def verify_entries(entries: Any, key: str) -> int:
    """Walk entries (mappings in seq order); raise ChainBreak at the first bad one; return the count."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in entries:
        seq = entry["seq"]
        if seq != expected_seq:
            raise ChainBreak(seq, f"sequence gap or reorder: expected {expected_seq}")
        if entry["prev_hash"] != prev:
            raise ChainBreak(seq, "previous-hash link does not match the entry before it")
        digest = entry_hash(entry, prev)
        if digest != entry["entry_hash"]:
            raise ChainBreak(seq, "content does not match its hash (entry edited)")
        if not hmac.compare_digest(seal(key, digest), entry["seal"]):
            raise ChainBreak(seq, "HMAC seal does not match (entry forged or key changed)")
        prev = digest
        expected_seq += 1
        count += 1
    return count
