"""Patients: a pseudonymous clinical record, and identifiers kept apart and encrypted."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from nhs_number import is_valid as nhs_number_is_valid

from pdva.audit.models import AuditedModel
from pdva.registry import rules
from pdva.registry.choices import Ethnicity, Sex
from pdva.registry.crypto import decrypt, encrypt
from pdva.registry.models.base import ClinicalRecord, choice
from pdva.registry.models.sites import Site

REGISTRY_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def new_registry_id() -> str:
    body = "".join(secrets.choice(REGISTRY_ID_ALPHABET) for _ in range(8))
    return f"PD-{body[:4]}-{body[4:]}"


class Patient(ClinicalRecord):
    """The pseudonymous patient record used everywhere in the registry."""

    site_path = "site"
    registry_id = models.CharField(max_length=20, unique=True, default=new_registry_id, editable=False)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    sex = choice("sex", Sex)
    ethnicity = choice("ethnicity", Ethnicity)
    imd_decile = models.PositiveSmallIntegerField(
        "IMD decile",
        null=True,
        blank=True,
        help_text="Index of Multiple Deprivation decile (1 = most deprived)",
    )
    national_data_opt_out = models.BooleanField(
        default=False, help_text="National data opt-out applies: excluded from linkage and research exports"
    )
    withdrawn_date = models.DateField(null=True, blank=True, help_text="Withdrew from registry follow-up")

    class Meta:
        ordering = ["registry_id"]
        indexes = [
            # The few removed patients (see registry_proc_removed).
            models.Index(
                fields=["id"], condition=models.Q(deleted_at__isnull=False), name="registry_patient_removed"
            ),
        ]

    def __str__(self) -> str:
        return self.registry_id

    def clean_for_save(self) -> None:
        super().clean_for_save()
        if self.imd_decile is not None and not 1 <= self.imd_decile <= 10:
            raise ValidationError({"imd_decile": "IMD decile must be 1-10"})

    def treatment_days(self, drug_class: str, *, as_of: dt.date, since: dt.date | None = None) -> int:
        """Days on any drug of ``drug_class`` (e.g. anticoagulant, antiplatelet), overlapping episodes merged,
        up to ``as_of`` or death, whichever is first."""
        from pdva.registry.durations import covered_days

        death = self.date_of_death
        end = min(as_of, death) if death else as_of
        episodes = [
            (m.start_date, m.stop_date)
            for m in self.medications.all()
            if m.drug_class == drug_class and m.deleted_at is None
        ]
        return covered_days(episodes, as_of=end, since=since)

    @property
    def date_of_death(self) -> dt.date | None:
        death = getattr(self, "death", None)
        return death.date_of_death if death is not None and not death.is_deleted else None


def nhs_number_index(nhs_number: str) -> str:
    """A keyed blind index so duplicates and linkage can match NHS numbers without decrypting them."""
    key = hashlib.sha256(("nhs-index:" + settings.PDVA_IDENTITY_KEY).encode()).digest()
    return hmac.new(key, nhs_number.encode(), hashlib.sha256).hexdigest()


def normalise_nhs_number(raw: str) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    stray = [ch for ch in raw if not (ch.isdigit() or ch in " -")]
    if stray or len(digits) != 10 or len(set(digits)) == 1 or not nhs_number_is_valid(digits):
        raise ValidationError(
            {"nhs_number": f"{raw!r} is not a valid NHS number (10 digits, modulus-11 check)"}
        )
    return digits


class PatientIdentity(AuditedModel):
    """Direct identifiers, encrypted at rest (Fernet) and readable only by roles that need them.

    Kept in their own table so clinical queries, exports and the audit log never touch them.
    """

    site_path = "patient__site"
    secret_fields = (
        "nhs_number_enc",
        "family_name_enc",
        "given_name_enc",
        "date_of_birth_enc",
        "postcode_enc",
    )
    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="identity")
    nhs_number_enc = models.TextField(blank=True)
    nhs_number_index = models.CharField(max_length=64, blank=True, db_index=True)
    family_name_enc = models.TextField(blank=True)
    given_name_enc = models.TextField(blank=True)
    date_of_birth_enc = models.TextField(blank=True)
    postcode_enc = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "patient identities"

    def __str__(self) -> str:
        return f"Identity of {self.patient_id}"

    # Plaintext accessors: the only way identifiers leave this model.
    @property
    def nhs_number(self) -> str:
        return decrypt(self.nhs_number_enc)

    @nhs_number.setter
    def nhs_number(self, value: str) -> None:
        value = normalise_nhs_number(value) if value else ""
        self.nhs_number_enc = encrypt(value)
        self.nhs_number_index = nhs_number_index(value) if value else ""

    @property
    def family_name(self) -> str:
        return decrypt(self.family_name_enc)

    @family_name.setter
    def family_name(self, value: str) -> None:
        self.family_name_enc = encrypt(value.strip())

    @property
    def given_name(self) -> str:
        return decrypt(self.given_name_enc)

    @given_name.setter
    def given_name(self, value: str) -> None:
        self.given_name_enc = encrypt(value.strip())

    @property
    def date_of_birth(self) -> dt.date | None:
        raw = decrypt(self.date_of_birth_enc)
        return dt.date.fromisoformat(raw) if raw else None

    @date_of_birth.setter
    def date_of_birth(self, value: dt.date | None) -> None:
        if value is not None and value > dt.date.today():
            raise ValidationError({"date_of_birth": "date of birth cannot be in the future"})
        self.date_of_birth_enc = encrypt(value.isoformat() if value else "")

    @property
    def postcode(self) -> str:
        return decrypt(self.postcode_enc)

    @postcode.setter
    def postcode(self, value: str) -> None:
        self.postcode_enc = encrypt(" ".join(value.upper().split()))

    def clean_for_save(self) -> None:
        super().clean_for_save()
        death = self.patient.date_of_death if self.patient_id else None
        error = rules.birth_after_death(self.date_of_birth, death) if death else None
        if error:
            raise ValidationError({"date_of_birth": error})

    def age_on(self, day: dt.date) -> int | None:
        dob = self.date_of_birth
        if dob is None:
            return None
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))
