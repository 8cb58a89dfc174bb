"""The audit log and the base class every audited (clinical, identity, governance) model uses."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from pdva.audit import chain
from pdva.audit.context import current_actor


class AuditEntry(models.Model):
    """One append-only, hash-chained record of a change. UPDATE and DELETE are refused by triggers."""

    seq = models.BigIntegerField(unique=True)
    timestamp = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    site_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)
    seal = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

    def changed_fields(self) -> list[tuple[str, Any, Any]]:
        before = self.before or {}
        after = self.after or {}
        names = sorted(set(before) | set(after))
        return [(n, before.get(n), after.get(n)) for n in names]


CHAIN_LOCK_ID = 7_204_331  # arbitrary constant: the PostgreSQL advisory lock that serialises chain writers


def _lock_chain() -> None:
    # SQLite runs IMMEDIATE transactions (see settings), which already serialise writers.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


def _head() -> tuple[int, str]:
    last = AuditEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first()
    return last if last else (0, chain.GENESIS_HASH)


def chain_entries(rows: list[dict[str, Any]], *, json_texts: bool = False) -> list[dict[str, Any]]:
    """Lock the chain and turn rows into the next entries' field values, hashed and sealed in order.

    The one place entries are built: ``append_entries`` (each save) and the bulk path insert what this
    returns, so a chain written record by record and one written in bulk cannot be told apart. Must run
    inside the transaction that inserts the entries (the lock is held until it commits). With
    ``json_texts`` each entry also carries 'before_json' and 'after_json', the JSON text the hash
    covered, for an insert that sends text (COPY).
    """
    if not rows:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit entries must be written inside the transaction that makes the change")
    actor = current_actor()
    _lock_chain()
    seq, prev = _head()
    now = timezone.now()
    # Millisecond precision: what every backend and Django's JSON serialiser (backups) keep exactly.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    key = settings.PDVA_AUDIT_KEY
    entries = []
    for row in rows:
        seq += 1
        data = {
            "seq": seq,
            "timestamp": now,
            "actor_id": actor.user_id,
            "actor_label": actor.label,
            "action": row["action"],
            "object_type": row["object_type"],
            "object_id": str(row["object_id"]),
            "site_id": row.get("site_id"),
            "before": row.get("before"),
            "after": row.get("after"),
            "reason": row.get("reason") or actor.reason,
        }
        if json_texts:
            digest, data["before_json"], data["after_json"] = chain.entry_hash_and_json(data, prev)
        else:
            digest = chain.entry_hash(data, prev)
        data["prev_hash"] = prev
        data["entry_hash"] = digest
        data["seal"] = chain.seal(key, digest)
        entries.append(data)
        prev = digest
    return entries


def append_entries(rows: list[dict[str, Any]]) -> list[AuditEntry]:
    """Append rows (action, object_type, object_id, site_id, before, after, reason) to the chain.

    Must run inside the caller's transaction so the change and its audit entry commit together.
    """
    entries = [AuditEntry(**data) for data in chain_entries(rows)]
    return AuditEntry.objects.bulk_create(entries, batch_size=500)


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    object_type: str = "",
    object_id: Any = "",
    site_id: int | None = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEntry:
    """Record an action that is not a model write (an export, a sign-off, a login to identifiers)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        if site_id is None and isinstance(obj, AuditedModel):
            site_id = obj.audit_site_id()
    with transaction.atomic():
        return append_entries(
            [
                {
                    "action": action,
                    "object_type": object_type,
                    "object_id": object_id,
                    "site_id": site_id,
                    "before": chain.json_value(before),
                    "after": chain.json_value(after),
                    "reason": reason,
                }
            ]
        )[0]


DELETED_REASON_MAX_LENGTH = 2000


class ReasonRequired(ValueError):
    """An edit after first entry must say why."""


class ConcurrentEdit(RuntimeError):
    """Someone else saved this record after it was loaded: refuse rather than overwrite."""

    def __init__(self, obj: models.Model, theirs: dict[str, Any]) -> None:
        super().__init__(f"{obj._meta.verbose_name} was changed by someone else since you opened it")
        self.obj = obj
        self.theirs = theirs


class HardDeleteForbidden(RuntimeError):
    pass


class UnauditedWrite(RuntimeError):
    pass


class AuditedQuerySet(models.QuerySet):
    """Bulk writes bypass save(), so they are refused; use audited_bulk_create or save()."""

    def update(self, **kwargs: Any) -> int:
        raise UnauditedWrite(f"{self.model.__name__}: queryset.update() is not audited; save each object")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise HardDeleteForbidden(f"{self.model.__name__}: clinical records are never hard-deleted")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        raise UnauditedWrite(f"{self.model.__name__}: use audited_bulk_create()")

    def bulk_update(self, objs: Any, *args: Any, **kwargs: Any) -> int:
        raise UnauditedWrite(f"{self.model.__name__}: bulk_update() is not audited")

    def alive(self) -> AuditedQuerySet:
        return self.filter(deleted_at__isnull=True)

    def for_sites(self, site_ids: Any) -> AuditedQuerySet:
        """Rows belonging to the given sites. An empty collection gives nothing (fail closed)."""
        return self.filter(**{f"{self.model.site_path}__in": site_ids})

    def audited_bulk_create(self, objs: list[Any], *, reason: str = "") -> list[Any]:
        """Insert many new rows and one audit entry per row, in one transaction (used by seed and import)."""
        with transaction.atomic():
            for obj in objs:
                obj.prepare_for_save()
            created = super().bulk_create(objs, batch_size=500)
            append_entries([obj.audit_row("created", None, obj.audit_snapshot(), reason) for obj in created])
        return created


PLAIN_JSON_TYPES = frozenset({str, int, bool})
_SNAPSHOT_PLANS: dict[type[models.Model], list[tuple[str, bool]]] = {}


def _snapshot_plan(model: type[AuditedModel]) -> list[tuple[str, bool]]:
    """(attname, is secret) of the fields a model's audit snapshot holds, worked out once per model."""
    plan = _SNAPSHOT_PLANS.get(model)
    if plan is None:
        plan = _SNAPSHOT_PLANS[model] = [
            (field.attname, field.name in model.secret_fields)
            for field in model._meta.concrete_fields
            if not field.primary_key and field.name not in model.audit_exclude
        ]
    return plan


class AuditedModel(models.Model):
    """Base of every model holding clinical, identity or governance data.

    save() writes an audit entry with before/after values in the same transaction, refuses an edit
    without a reason, refuses an edit of a row someone else changed since it was loaded (version
    check), and delete() is replaced by soft_delete().
    """

    site_path: ClassVar[str] = "site"  # lookup from this model to its Site, for scoping
    audit_exclude: ClassVar[tuple[str, ...]] = ("version", "created_at", "updated_at")
    secret_fields: ClassVar[tuple[str, ...]] = ()  # shown in the audit log only as keyed fingerprints

    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(editable=False, null=True)
    updated_at = models.DateTimeField(editable=False, null=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_reason = models.TextField(blank=True, editable=False)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        instance = super().from_db(db, field_names, values)
        # Kept so a refused stale edit can show what the other person changed since this load.
        instance._loaded_from_db = (db, tuple(field_names), tuple(values))
        return instance

    def loaded_snapshot(self) -> dict[str, Any] | None:
        loaded = getattr(self, "_loaded_from_db", None)
        if loaded is None:
            return None
        return super().from_db(*loaded).audit_snapshot()

    # --- hooks for subclasses -------------------------------------------------------------
    def derive(self) -> None:
        """Compute derived fields before saving. Derived values live only here."""

    def clean_for_save(self) -> None:
        """Hard integrity rules checked on every save (in addition to form validation)."""

    # --- audit machinery ----------------------------------------------------------------
    def audit_site_id(self) -> int | None:
        if self.site_path == "pk":
            return self.pk
        obj: Any = self
        for part in self.site_path.split("__"):
            if obj is None:
                return None
            obj = getattr(obj, part)
        return obj.pk if obj is not None else None

    def audit_snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {}
        plain = PLAIN_JSON_TYPES
        for attname, secret in _snapshot_plan(type(self)):
            value = getattr(self, attname)
            if secret:
                value = None if value in (None, "") else chain.blind(settings.PDVA_AUDIT_KEY, str(value))
            # None, str, int and bool are their own JSON form: skip json_value's checks (bulk loads).
            snap[attname] = value if value is None or type(value) in plain else chain.json_value(value)
        return snap

    def audit_row(self, verb: str, before: Any, after: Any, reason: str) -> dict[str, Any]:
        return {
            "action": f"{self._meta.app_label}.{self._meta.model_name}.{verb}",
            "object_type": self._meta.label_lower,
            "object_id": self.pk,
            "site_id": self.audit_site_id(),
            "before": before,
            "after": after,
            "reason": reason,
        }

    @classmethod
    def prepare_many(cls, objs: list[Any]) -> None:
        """prepare_for_save() for a batch of new records (the bulk path). A model whose checks query other
        tables overrides this to run one query for the batch instead of one per record."""
        for obj in objs:
            obj.prepare_for_save()

    def prepare_for_save(self) -> None:
        self.derive()
        # A record being removed is not re-checked against rules added since it was entered.
        if not getattr(self, "_removing", False):
            self.clean_for_save()
        now = timezone.now()
        if self.created_at is None:
            self.created_at = now
        self.updated_at = now

    def save(self, *args: Any, reason: str = "", **kwargs: Any) -> None:
        actor = current_actor()  # raises before anything is written
        reason = reason.strip() or actor.reason
        with transaction.atomic():
            is_update = not self._state.adding
            before: dict[str, Any] | None = None
            if is_update:
                current = type(self)._base_manager.select_for_update().get(pk=self.pk)
                if current.version != self.version:
                    base = self.loaded_snapshot() or self.audit_snapshot()
                    theirs = {k: v for k, v in current.audit_snapshot().items() if base.get(k) != v}
                    raise ConcurrentEdit(self, theirs)
                before_full = current.audit_snapshot()
                self.prepare_for_save()
                after_full = self.audit_snapshot()
                changed = [k for k in after_full if after_full[k] != before_full.get(k)]
                if not changed:
                    return
                if not reason:
                    raise ReasonRequired(f"a reason for change is required to edit {self._meta.verbose_name}")
                before = {k: before_full.get(k) for k in changed}
                after = {k: after_full[k] for k in changed}
                self.version += 1
                verb = "deleted" if "deleted_at" in changed and self.deleted_at else "updated"
            else:
                self.prepare_for_save()
                verb = "created"
            super().save(*args, **kwargs)
            if not is_update:
                after = self.audit_snapshot()
            append_entries([self.audit_row(verb, before, after, reason)])

    def soft_delete(self, *, reason: str) -> None:
        if not reason.strip():
            raise ReasonRequired("a reason is required to delete a record")
        if len(reason) > DELETED_REASON_MAX_LENGTH:
            # Forms and the API stop a person sooner (1,000 characters); this bounds every other caller.
            raise ValueError(
                f"the reason for removing a record is limited to {DELETED_REASON_MAX_LENGTH} characters"
            )
        self.deleted_at = timezone.now()
        self.deleted_reason = reason
        self._removing = True
        try:
            self.save(reason=reason)
        finally:
            del self._removing

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HardDeleteForbidden(
            f"{self._meta.verbose_name}: clinical records are never hard-deleted; use soft_delete()"
        )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
