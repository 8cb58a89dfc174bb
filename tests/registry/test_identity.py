"""Patient identifiers: validated, encrypted at rest, kept out of the audit log."""

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings

from pdva.audit.models import AuditEntry
from pdva.registry.crypto import IdentityKeyMismatch, _fernet
from pdva.registry.models import PatientIdentity
from pdva.registry.models.patients import nhs_number_index, normalise_nhs_number
from tests.factories import PatientFactory, make_identity

pytestmark = pytest.mark.django_db

NHS = "9434765919"


def test_identifiers_round_trip(site_a):
    identity = make_identity(
        PatientFactory(site=site_a),
        nhs_number=NHS,
        family="Okafor",
        given="Grace",
        dob=dt.date(1948, 2, 29),
        postcode="zz99  3vz",
    )
    fresh = PatientIdentity.objects.get(pk=identity.pk)
    assert fresh.nhs_number == NHS
    assert (fresh.family_name, fresh.given_name) == ("Okafor", "Grace")
    assert fresh.date_of_birth == dt.date(1948, 2, 29)
    assert fresh.postcode == "ZZ99 3VZ"


def test_identifiers_are_encrypted_at_rest(site_a):
    identity = make_identity(PatientFactory(site=site_a), nhs_number=NHS, family="Okafor")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM registry_patientidentity WHERE id = %s", [identity.pk])
        row = " ".join(str(v) for v in cursor.fetchone())
    assert NHS not in row and "Okafor" not in row and "1950-06-15" not in row


def test_audit_log_holds_only_keyed_fingerprints_of_identifiers(site_a):
    identity = make_identity(PatientFactory(site=site_a), nhs_number=NHS, family="Okafor")
    entry = AuditEntry.objects.get(object_type="registry.patientidentity", object_id=str(identity.pk))
    text = str(entry.after)
    assert NHS not in text and "Okafor" not in text
    assert entry.after["nhs_number_enc"].startswith("hmac:")


@pytest.mark.parametrize("bad", ["9434765918", "12345", "abcdefghij", "0000000000x"])
def test_invalid_nhs_numbers_are_rejected(bad):
    with pytest.raises(ValidationError, match="not a valid NHS number"):
        normalise_nhs_number(bad)


def test_nhs_number_is_normalised_and_indexed_for_matching(site_a):
    identity = make_identity(PatientFactory(site=site_a), nhs_number="943 476 5919")
    assert identity.nhs_number == NHS
    assert PatientIdentity.objects.filter(nhs_number_index=nhs_number_index(NHS)).get() == identity


def test_future_date_of_birth_rejected():
    with pytest.raises(ValidationError, match="future"):
        PatientIdentity().date_of_birth = dt.date.today() + dt.timedelta(days=1)


def test_a_different_key_cannot_read_identifiers(site_a):
    identity = make_identity(PatientFactory(site=site_a))
    other = Fernet.generate_key().decode()
    _fernet.cache_clear()
    with override_settings(PDVA_IDENTITY_KEY=other), pytest.raises(IdentityKeyMismatch):
        _ = PatientIdentity.objects.get(pk=identity.pk).nhs_number
    _fernet.cache_clear()


def test_age_is_whole_years_on_a_given_day(site_a):
    identity = make_identity(PatientFactory(site=site_a), dob=dt.date(1950, 6, 15))
    assert identity.age_on(dt.date(2025, 6, 14)) == 74
    assert identity.age_on(dt.date(2025, 6, 15)) == 75
