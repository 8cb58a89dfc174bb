"""Accounts in the audit trail: every change to a user (flags, password, groups), a TOTP device or a
membership grant is recorded as who changed whose what, whatever made it (administration screens, the app's
views, commands). Passwords and device keys never reach the log: only that they changed."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.audit.context import audit_context, peek_actor
from pdva.audit.models import record

USER_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")
DEVICE_FIELDS = ("name", "confirmed")
UNATTRIBUTED = "system:no-user-context"  # e.g. createsuperuser, a shell: still recorded, never skipped


def _actor_context() -> Any:
    return nullcontext() if peek_actor() is not None else audit_context(label=UNATTRIBUTED)


def _user_state(user: Any) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_FIELDS}


User = get_user_model()


@receiver(pre_save, sender=User, dispatch_uid="pdva_accounts_user_before")
def _user_before(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    instance._pdva_before = None
    if raw or instance.pk is None:
        return
    old = sender._base_manager.filter(pk=instance.pk).values(*USER_FIELDS, "password").first()
    instance._pdva_before = old


@receiver(post_save, sender=User, dispatch_uid="pdva_accounts_user_after")
def _user_after(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a sign-in, not an account change
    after = _user_state(instance)
    with _actor_context():
        if created:
            record(
                "accounts.user.created",
                object_type="auth.user",
                object_id=instance.pk,
                after={**after, "password_set": instance.has_usable_password()},
            )
            return
        old = getattr(instance, "_pdva_before", None) or {}
        changed = [n for n in USER_FIELDS if old.get(n) != after[n]]
        if changed:
            record(
                "accounts.user.updated",
                object_type="auth.user",
                object_id=instance.pk,
                before={n: old.get(n) for n in changed},
                after={n: after[n] for n in changed},
            )
        if old.get("password") is not None and old.get("password") != instance.password:
            record(
                "accounts.user.password_changed",
                object_type="auth.user",
                object_id=instance.pk,
                after={"username": instance.get_username(), "password_set": instance.has_usable_password()},
            )


@receiver(post_delete, sender=User, dispatch_uid="pdva_accounts_user_deleted")
def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    with _actor_context():
        record(
            "accounts.user.deleted",
            object_type="auth.user",
            object_id=instance.pk,
            before=_user_state(instance),
        )


def _m2m_audit(relation: str) -> Any:
    def handler(
        sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kw: Any
    ) -> None:
        if action not in ("post_add", "post_remove", "post_clear"):
            return
        verb = action.removeprefix("post_")
        names = sorted(str(obj) for obj in model.objects.filter(pk__in=pk_set or ()))
        with _actor_context():
            if reverse:  # group.user_set.add(...): one entry per user
                for user_id in sorted(pk_set or ()):
                    record(
                        f"accounts.user.{relation}_{verb}",
                        object_type="auth.user",
                        object_id=user_id,
                        after={relation: [str(instance)]},
                    )
            else:
                record(
                    f"accounts.user.{relation}_{verb}",
                    object_type="auth.user",
                    object_id=instance.pk,
                    after={relation: names} if verb != "clear" else None,
                )

    return handler


_groups_changed = _m2m_audit("groups")
_permissions_changed = _m2m_audit("user_permissions")
m2m_changed.connect(_groups_changed, sender=User.groups.through, dispatch_uid="pdva_accounts_groups")
m2m_changed.connect(
    _permissions_changed, sender=User.user_permissions.through, dispatch_uid="pdva_accounts_permissions"
)


# --- TOTP devices ---------------------------------------------------------------------------------


@receiver(pre_save, sender=TOTPDevice, dispatch_uid="pdva_accounts_totp_before")
def _device_before(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    instance._pdva_before = None
    if not raw and instance.pk is not None:
        instance._pdva_before = (
            sender._base_manager.filter(pk=instance.pk).values(*DEVICE_FIELDS, "key").first()
        )


@receiver(post_save, sender=TOTPDevice, dispatch_uid="pdva_accounts_totp_after")
def _device_after(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    state = {"user_id": instance.user_id, "name": instance.name, "confirmed": instance.confirmed}
    with _actor_context():
        if created:
            record("accounts.totp_device.created", instance, after=state)
            return
        old = getattr(instance, "_pdva_before", None) or {}
        changed = [n for n in DEVICE_FIELDS if old.get(n) != getattr(instance, n)]
        if changed:
            record(
                "accounts.totp_device.updated",
                instance,
                before={n: old.get(n) for n in changed},
                after={n: getattr(instance, n) for n in changed},
            )
        if old.get("key") is not None and old.get("key") != instance.key:
            record("accounts.totp_device.key_changed", instance, after={"user_id": instance.user_id})
        # Throttling counters and the last accepted time step change on every code: not account changes.


@receiver(post_delete, sender=TOTPDevice, dispatch_uid="pdva_accounts_totp_deleted")
def _device_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    with _actor_context():
        record(
            "accounts.totp_device.deleted",
            object_type="otp_totp.totpdevice",
            object_id=instance.pk,
            before={"user_id": instance.user_id, "name": instance.name, "confirmed": instance.confirmed},
        )


# --- sign-in time, for the absolute session limit --------------------------------------------------


@receiver(user_logged_in, dispatch_uid="pdva_accounts_signed_in_at")
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from pdva.accounts.middleware import LAST_SEEN, SIGNED_IN_AT

    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now


# --- role grants shown to governance ------------------------------------------------------------------


def _membership_before(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    instance._pdva_grant_before = None
    if not raw and instance.pk is not None:
        instance._pdva_grant_before = (
            sender._base_manager.filter(pk=instance.pk)
            .values("role", "site_id", "active", "deleted_at")
            .first()
        )


def _membership_after(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    from pdva.accounts.services.grants import is_grant, notice_if_needed

    if raw or getattr(instance, "_pdva_approving", False):
        return
    if is_grant(getattr(instance, "_pdva_grant_before", None), instance):
        notice_if_needed(instance)


def connect_membership_signals() -> None:
    from pdva.accounts.models import Membership

    pre_save.connect(_membership_before, sender=Membership, dispatch_uid="pdva_accounts_grant_before")
    post_save.connect(_membership_after, sender=Membership, dispatch_uid="pdva_accounts_grant_after")
