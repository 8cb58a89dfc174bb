"""Factories for registry objects. Every write runs inside an audit context named 'test:factory'."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from pdva.accounts.models import Membership
from pdva.audit.context import audit_context
from pdva.registry import models as m


class AuditedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        obj = model_class(*args, **kwargs)
        with audit_context(label="test:factory", reason="test fixture"):
            obj.save()
        return obj


class SiteFactory(AuditedFactory):
    class Meta:
        model = m.Site

    ods_code = factory.Sequence(lambda n: f"T{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Test Trust {o.ods_code}")
    region = "london"


class OperatorFactory(AuditedFactory):
    class Meta:
        model = m.Operator

    site = factory.SubFactory(SiteFactory)
    code = factory.Sequence(lambda n: f"OP{n}")
    display_name = factory.LazyAttribute(lambda o: f"Operator {o.code}")
    role = "interventional_radiologist"
    training_documented = True


class PatientFactory(AuditedFactory):
    class Meta:
        model = m.Patient

    site = factory.SubFactory(SiteFactory)
    sex = "male"


def make_identity(
    patient: m.Patient,
    *,
    nhs_number: str = "9434765919",
    family: str = "Testperson",
    given: str = "Alex",
    dob: dt.date = dt.date(1950, 6, 15),
    postcode: str = "ZZ99 3VZ",
):
    identity = m.PatientIdentity(patient=patient)
    identity.nhs_number = nhs_number
    identity.family_name = family
    identity.given_name = given
    identity.date_of_birth = dob
    identity.postcode = postcode
    with audit_context(label="test:factory", reason="test fixture"):
        identity.save()
    return identity


class ProcedureFactory(AuditedFactory):
    class Meta:
        model = m.Procedure

    patient = factory.SubFactory(PatientFactory)
    operator = factory.SubFactory(OperatorFactory, site=factory.SelfAttribute("..patient.site"))
    index_limb = "right"
    procedure_date = dt.date(2025, 3, 10)
    admission_date = dt.date(2025, 3, 9)
    discharge_date = dt.date(2025, 3, 14)
    technique_family = "dedicated_system"
    completion_foot_opacification = "yes"
    outflow_reached = "plantar_veins"
    conversion_to_open = "no"


class BaselineFactory(AuditedFactory):
    class Meta:
        model = m.Baseline

    procedure = factory.SubFactory(ProcedureFactory)
    assessment_date = factory.LazyAttribute(lambda o: o.procedure.procedure_date - dt.timedelta(days=3))
    rutherford = 5
    wifi_w, wifi_i, wifi_fi = 1, 3, 0
    dialysis_dependent = "no"


class VisitFactory(AuditedFactory):
    class Meta:
        model = m.FollowUpVisit

    procedure = factory.SubFactory(ProcedureFactory)
    visit_date = factory.LazyAttribute(lambda o: o.procedure.procedure_date + dt.timedelta(days=30))
    timepoint = "w2_6"
    contact_mode = "face_to_face"


class AdverseEventFactory(AuditedFactory):
    class Meta:
        model = m.AdverseEvent

    procedure = factory.SubFactory(ProcedureFactory)
    onset_date = factory.LazyAttribute(lambda o: o.procedure.procedure_date + dt.timedelta(days=5))
    category = "pain"


class ReinterventionFactory(AuditedFactory):
    class Meta:
        model = m.Reintervention

    procedure = factory.SubFactory(ProcedureFactory)
    date = factory.LazyAttribute(lambda o: o.procedure.procedure_date + dt.timedelta(days=60))
    planned = "unplanned"
    indication = "occlusion"
    modalities = ["pta"]


class AmputationFactory(AuditedFactory):
    class Meta:
        model = m.Amputation

    patient = factory.SubFactory(PatientFactory)
    limb = "right"
    date = dt.date(2025, 6, 1)
    level = "below_knee"


class DeathFactory(AuditedFactory):
    class Meta:
        model = m.Death

    patient = factory.SubFactory(PatientFactory)
    date_of_death = dt.date(2025, 9, 1)
    source = "hospital_record"


class MedicationFactory(AuditedFactory):
    class Meta:
        model = m.Medication

    patient = factory.SubFactory(PatientFactory)
    agent = "rivaroxaban"
    start_date = dt.date(2025, 3, 10)
    indication = "post_dva"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


def grant(user, role: str, site: m.Site | None = None) -> Membership:  # type: ignore[no-untyped-def]
    membership = Membership(user=user, role=role, site=site)
    with audit_context(label="test:factory", reason="test fixture"):
        membership.save()
    return membership
