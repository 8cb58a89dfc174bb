"""Patient self-completion links: single use, expiry, revocation, audit as the patient, scoring."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.proms.models import PromScore
from pdva.proms.services import links
from pdva.registry.models import PromAdministration
from tests.proms.conftest import issue_link

EQ = {"MO": "2", "SC": "1", "UA": "1", "PD": "4", "AD": "3", "VAS": "65"}


def answers_post() -> dict[str, str]:
    data = {f"eq5d5l__{k}": v for k, v in EQ.items()}
    data.update({f"vascuqol6__VQ{i}": "3" for i in range(1, 7)})
    return data


def url_of(invitation) -> str:  # type: ignore[no-untyped-def]
    return reverse("proms:patient_form", args=[links.token_for(invitation)])


@pytest.mark.django_db
def test_patient_completes_once_without_login_audited_as_the_patient(patient) -> None:
    invitation = issue_link(patient)
    client = Client()
    page = client.get(url_of(invitation))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Placeholder wording" in html and "Demonstration wording" in html  # no licensed text shipped
    assert 'name="eq5d5l__MO"' in html and 'name="vascuqol6__VQ6"' in html
    assert "pain_nrs__NRS" not in html  # exactly the questionnaires of the link

    done = client.post(url_of(invitation), answers_post())
    assert done.status_code == 200 and "Thank you" in done.content.decode()
    adms = {a.instrument: a for a in PromAdministration.objects.filter(patient=patient)}
    assert set(adms) == {"eq5d5l", "vascuqol6"}
    eq = adms["eq5d5l"]
    assert eq.responses == {k: int(v) for k, v in EQ.items()}
    assert eq.mode == "electronic_self" and eq.completion_status == "complete" and eq.timepoint == "m3"
    assert eq.score_method.startswith("dsu_5l_to_3l_2022@")
    # 21143, female, aged 75 on completion: DSU 65+ female = 0.5203 (prom_scoring_verified.md §6)
    assert float(eq.score) == pytest.approx(0.520, abs=0.0005)
    methods = set(PromScore.objects.filter(administration=eq).values_list("method", flat=True))
    assert any(m.startswith("uk_5l_rowen_2026@") for m in methods)
    vq = PromScore.objects.get(administration=adms["vascuqol6"])
    assert float(vq.value) == 18 and vq.verified is False

    label = f"patient:{patient.registry_id} via link {invitation.pk}"
    created = AuditEntry.objects.filter(action="registry.promadministration.created")
    assert set(created.values_list("actor_label", flat=True)) == {label}
    assert AuditEntry.objects.filter(action="proms.prominvitation.updated", actor_label=label).exists()

    again = client.get(url_of(invitation))
    assert again.status_code == 410 and "already been completed" in again.content.decode()
    resubmit = client.post(url_of(invitation), answers_post())
    assert resubmit.status_code == 410
    assert PromAdministration.objects.filter(patient=patient).count() == 2


@pytest.mark.django_db
def test_expired_revoked_and_forged_links_give_a_clear_page(patient) -> None:
    old = issue_link(patient, now=timezone.now() - dt.timedelta(days=60))
    client = Client()
    expired = client.get(url_of(old))
    assert expired.status_code == 410 and "expired" in expired.content.decode()

    revoked = issue_link(patient)
    token = links.token_for(revoked)
    with audit_context(label="test:staff", reason="test"):
        links.revoke(revoked, reason="patient asked")
    page = client.get(reverse("proms:patient_form", args=[token]))
    assert page.status_code == 410 and "no longer valid" in page.content.decode()

    forged = client.get(reverse("proms:patient_form", args=[token[:-3] + "abc"]))
    assert forged.status_code == 404 and "not recognised" in forged.content.decode()


@pytest.mark.django_db
def test_invalid_answers_are_refused_and_nothing_is_saved(patient) -> None:
    invitation = issue_link(patient, instruments=("pain_nrs",))
    client = Client()
    bad = client.post(url_of(invitation), {"pain_nrs__NRS": "11"})
    assert bad.status_code == 200 and "from 0 to 10" in bad.content.decode()
    assert not PromAdministration.objects.exists()
    invitation.refresh_from_db()
    assert invitation.state == "open"
    partial = client.post(url_of(invitation), {})
    assert partial.status_code == 200
    adm = PromAdministration.objects.get()
    assert adm.completion_status == "partial" and adm.score is None


@pytest.mark.django_db
def test_completion_races_are_refused(patient) -> None:
    invitation = issue_link(patient, instruments=("pain_nrs",))
    links.complete(invitation, {"pain_nrs": {"NRS": 4}})
    stale = type(invitation).objects.get(pk=invitation.pk)
    stale.used_at = None  # a second request that loaded the link before the first finished
    with pytest.raises(links.LinkNotOpen):
        links.complete(stale, {"pain_nrs": {"NRS": 5}})
    assert PromAdministration.objects.count() == 1


@pytest.mark.django_db
def test_one_invitation_gives_one_link_whenever_it_is_made(patient, monkeypatch) -> None:
    import time

    invitation = issue_link(patient)
    first = links.link_for(invitation)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # an hour later: a reminder, the staff page
    assert links.link_for(invitation) == first
    assert links.resolve(links.token_for(invitation)).state == "open"


@pytest.mark.django_db
def test_links_issued_with_a_timestamped_token_still_open(patient) -> None:
    from django.core import signing

    invitation = issue_link(patient)
    old_style = signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=links.SALT, compress=True)
    assert old_style.count(":") == 2
    assert links.resolve(old_style).invitation == invitation
    assert links.resolve(old_style).state == "open"
    assert links.resolve(old_style[:-2] + "xx").state == "invalid"
