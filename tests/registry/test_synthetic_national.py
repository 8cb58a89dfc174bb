"""The generator at national scale: any number of sites, varied volumes, deterministic for a seed,
every record audited; and the small demos' cohorts unchanged."""

import datetime as dt
from collections import Counter

import numpy as np
import pytest
from django.db.models import Count, F

from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.registry import models as m
from pdva.registry.choices import Region
from pdva.registry.synthetic import (
    SITE_NAMES,
    WRITE_ORDER,
    CohortBuilder,
    new,
    seed_cohort,
    site_layout,
    synthetic_ods_codes,
)

CUTOFF = dt.date(2026, 6, 30)


def test_the_first_six_sites_are_the_demo_sites_with_even_shares():
    layout = site_layout(6, seed=1, varied=False)
    assert [(s.ods_code, s.name, s.region) for s in layout] == SITE_NAMES
    assert {s.weight for s in layout} == {1 / 6} and {s.operators for s in layout} == {3}


def test_any_number_of_sites_gets_distinct_synthetic_codes_and_names():
    layout = site_layout(700, seed=1, varied=True)
    codes = [s.ods_code for s in layout]
    assert len(set(codes)) == 700 and all(c.startswith("Z") and 3 <= len(c) <= 5 for c in codes)
    assert len({s.name for s in layout}) == 700 and all(s.name.endswith("(synthetic)") for s in layout)
    assert {s.region for s in layout} <= set(Region.values)
    assert next(iter(synthetic_ods_codes())) == "ZZA"


def test_national_layout_has_high_and_low_volume_sites_and_is_fixed_by_the_seed():
    layout = site_layout(30, seed=1, varied=True)
    weights = np.array([s.weight for s in layout])
    assert weights.sum() == pytest.approx(1.0)
    assert weights.max() / weights.min() >= 4  # some high-volume centres, some small
    assert 2 <= min(s.operators for s in layout) < max(s.operators for s in layout) <= 8
    assert site_layout(30, seed=1, varied=True) == layout
    assert site_layout(30, seed=2, varied=True) != layout


def test_pick_makes_the_draw_rng_choice_makes():
    builder = CohortBuilder(seed=5, cutoff=CUTOFF, years=1, progress=None)
    reference = np.random.default_rng(5)
    for k in range(2000):
        p = [[0.68, 0.32], [0.1, 0.55, 0.35], None, [0.3, 0.4, 0.2, 0.1]][k % 4]
        n = len(p) if p else 2 + k % 7
        assert builder.pick(list(range(n)), p) == int(reference.choice(n, p=p))
    with pytest.raises(ValueError, match="do not fit"):
        builder.pick(["a", "b"], [0.5, 0.6])


@pytest.mark.django_db
def test_fast_constructor_makes_the_same_record_as_the_model(site_a):
    patient = m.Patient(site=site_a, sex="male")
    kwargs = {
        "patient": patient,
        "index_limb": "left",
        "procedure_date": CUTOFF,
        "arterial_access": ["pedal"],
    }
    ours, django = new(m.Procedure, **kwargs), m.Procedure(**kwargs)

    def state(obj):
        return {k: v for k, v in vars(obj).items() if k not in ("_state", "uuid")}

    assert state(ours) == state(django)
    assert ours._state.adding and ours._state.fields_cache.keys() == django._state.fields_cache.keys()
    assert ours.uuid is None  # drawn by the builder before the record is queued
    with pytest.raises(Exception, match="no field named"):
        new(m.Procedure, not_a_field=1)


def fingerprint():
    return (
        list(m.Site.objects.order_by("ods_code").values_list("ods_code", "name", "region")),
        list(m.Patient.objects.order_by("pk").values_list("registry_id", "site__ods_code", "sex")),
        list(m.Procedure.objects.order_by("pk").values_list("uuid", "procedure_date", "operator__code")),
        [m.objects.count() for m in WRITE_ORDER],
    )


@pytest.fixture(scope="module")
def national(django_db_setup, django_db_blocker):
    """The same national cohort seeded twice (wiped in between): both fingerprints."""
    from pdva.core.backup import wipe

    with django_db_blocker.unblock():
        prints = []
        for _ in range(2):
            wipe()
            seed_cohort(sites=12, patients=240, years=3, seed=21, cutoff=CUTOFF)
            prints.append(fingerprint())
        yield prints
        wipe()


@pytest.mark.django_db
def test_more_than_six_sites_seed_with_varied_volumes_and_operators(national):
    assert m.Site.objects.count() == 12 and m.SiteGovernance.objects.count() == 12
    per_site = Counter(m.Patient.objects.values_list("site__ods_code", flat=True))
    assert len(per_site) == 12 and max(per_site.values()) >= 3 * min(per_site.values())
    operators = Counter(m.Operator.objects.values_list("site_id", flat=True))
    assert len(set(operators.values())) > 1
    assert not m.Procedure.objects.exclude(operator__site=F("patient__site")).exists()


@pytest.mark.django_db
def test_every_record_is_audited_once_and_the_chain_verifies(national):
    created = Counter(
        dict(
            AuditEntry.objects.filter(action__endswith=".created")
            .values_list("object_type")
            .annotate(n=Count("id"))
        )
    )
    for model in WRITE_ORDER:
        ids = set(model.objects.values_list("pk", flat=True))
        audited = set(
            AuditEntry.objects.filter(
                object_type=model._meta.label_lower, action__endswith=".created"
            ).values_list("object_id", flat=True)
        )
        assert {str(pk) for pk in ids} == audited, model.__name__
        assert created[model._meta.label_lower] == len(ids), model.__name__
    assert set(AuditEntry.objects.values_list("actor_label", flat=True)) == {"system:seed"}
    assert verify_chain() == AuditEntry.objects.count()


def test_the_same_seed_makes_the_same_national_cohort(national):
    first, second = national
    assert first == second and first[3][3] == 240
