"""A role given to oneself, or a clinical role granted by an administrator, is shown to the governance
lead (home page notice, email) until reviewed."""

from __future__ import annotations

import pytest
from django.core import mail

from pdva.accounts.models import Membership, RoleGrantNotice
from pdva.accounts.services.grants import ADMIN_GRANTED, SELF_GRANTED
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from tests.factories import grant

pytestmark = pytest.mark.django_db


def _give(actor, user, role: str, site):  # type: ignore[no-untyped-def]
    with audit_context(actor, reason="access request"):
        membership = Membership(user=user, role=role, site=site)
        membership.save()
    return membership


@pytest.fixture
def mailbox(settings, gina):  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    gina.email = "gina@site-a.example"
    with audit_context(label="test:factory"):
        gina.save()
    return mail.outbox


def test_admin_granting_themself_a_clinical_role_is_shown_to_the_sites_lead(
    sam, gina, login, site_a, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _give(sam, sam, "site_clinician", site_a)
    notice = RoleGrantNotice.objects.get()
    assert notice.why == SELF_GRANTED and notice.granted_to == sam and notice.site == site_a
    page = login(gina).get("/").content.decode()
    assert "Role grants for your review" in page and "sam" in page and "Site clinician" in page
    assert len(mailbox) == 1 and mailbox[0].to == ["gina@site-a.example"] and "sam" in mailbox[0].body
    assert AuditEntry.objects.filter(action="accounts.role_grant.notice", site_id=site_a.pk).exists()


def test_grants_made_in_bulk_are_shown_like_any_other(sam, gina, alice, bob, site_a):
    with audit_context(sam, reason="access requests"):
        made = Membership.objects.audited_bulk_create(
            [
                Membership(user=alice, role="site_data_manager", site=site_a),
                Membership(user=bob, role="site_clinician", site=site_a),
            ],
            reason="access requests",
        )
    assert all(m.pk for m in made)
    notices = RoleGrantNotice.objects.order_by("granted_to__username")
    assert [(n.granted_to.username, n.why) for n in notices] == [
        ("alice", ADMIN_GRANTED),
        ("bob", ADMIN_GRANTED),
    ]
    assert AuditEntry.objects.filter(action="accounts.membership.created").count() >= 2


def test_admin_granting_someone_a_clinical_role_is_shown(sam, gina, alice, site_a, login):
    _give(sam, alice, "site_data_manager", site_a)
    assert RoleGrantNotice.objects.get().why == ADMIN_GRANTED
    assert "Site data manager" in login(gina).get("/").content.decode()


def test_reactivating_a_membership_counts_as_a_grant(sam, gina, alice, site_a):
    membership = _give(sam, alice, "site_data_manager", site_a)
    assert RoleGrantNotice.objects.count() == 1
    membership.active = False
    with audit_context(sam, reason="x"):
        membership.save()
    assert RoleGrantNotice.objects.count() == 1  # taking a role away is no grant
    membership.active = True
    with audit_context(sam, reason="back"):
        membership.save()
    assert RoleGrantNotice.objects.count() == 2


def test_other_sites_lead_does_not_see_it(sam, site_a, site_b, login):
    from tests.factories import UserFactory

    lead_b = UserFactory(username="lena")
    grant(lead_b, "site_governance_lead", site_b)
    _give(sam, sam, "site_clinician", site_a)
    assert "Role grants for your review" not in login(lead_b).get("/").content.decode()


def test_registry_wide_clinical_role_goes_to_every_lead(sam, gina, login):
    from tests.factories import UserFactory

    auditor = UserFactory(username="newauditor")
    _give(sam, auditor, "national_auditor", None)
    assert "newauditor" in login(gina).get("/").content.decode()


def test_ordinary_grants_make_no_notice(gina, alice, site_a):
    grant(alice, "site_data_manager", site_a)  # a system context (seed, fixtures, demo)
    _give(gina, alice, "site_governance_lead", site_a)  # a lead granting: not an administrator, not oneself
    assert not RoleGrantNotice.objects.exists()


def test_non_clinical_role_by_an_administrator_makes_no_notice(sam, rita):
    from tests.factories import UserFactory

    _give(sam, UserFactory(username="res2"), "researcher", None)
    assert not RoleGrantNotice.objects.exists()


def test_lead_acknowledges_and_the_notice_goes(sam, gina, login, site_a):
    _give(sam, sam, "site_clinician", site_a)
    notice = RoleGrantNotice.objects.get()
    client = login(gina)
    response = client.post(
        f"/accounts/role-grants/{notice.pk}/acknowledge/", {"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    notice.refresh_from_db()
    assert notice.acknowledged_by == gina
    assert "Role grants for your review" not in client.get("/").content.decode()
    assert AuditEntry.objects.filter(action="accounts.role_grant.acknowledged", actor_id=gina.pk).exists()


def test_only_a_lead_who_sees_it_can_acknowledge(sam, alice, gina, login, site_a):
    _give(sam, sam, "site_clinician", site_a)
    notice = RoleGrantNotice.objects.get()
    assert login(alice).post(f"/accounts/role-grants/{notice.pk}/acknowledge/").status_code == 404
    notice.refresh_from_db()
    assert notice.acknowledged_at is None


def test_mail_failure_leaves_the_notice(sam, gina, site_a, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "pdva.core.mail.NotConfiguredBackend"
    gina.email = "gina@site-a.example"
    with audit_context(label="test:factory"):
        gina.save()
    with django_capture_on_commit_callbacks(execute=True):
        _give(sam, sam, "site_clinician", site_a)
    assert RoleGrantNotice.objects.filter(acknowledged_at__isnull=True).count() == 1


# --- PDVA_ROLE_GRANT_APPROVAL: a second person --------------------------------------------------------


@pytest.fixture
def approval(settings):  # type: ignore[no-untyped-def]
    settings.PDVA_ROLE_GRANT_APPROVAL = True


def test_approval_is_off_by_default(sam, site_a):
    from django.conf import settings

    assert settings.PDVA_ROLE_GRANT_APPROVAL is False
    assert _give(sam, sam, "site_clinician", site_a).active


def test_held_grant_gives_no_access_until_a_lead_approves(approval, sam, gina, login, site_a):
    from pdva.accounts.access import roles_of

    membership = _give(sam, sam, "site_clinician", site_a)
    membership.refresh_from_db()
    assert membership.active is False and "site_clinician" not in roles_of(type(sam).objects.get(pk=sam.pk))
    notice = RoleGrantNotice.objects.get()
    assert notice.needs_approval
    client = login(gina)
    assert "Waiting for your approval" in client.get("/").content.decode()
    client.post(f"/accounts/role-grants/{notice.pk}/acknowledge/", {"decision": "approve"})
    membership.refresh_from_db()
    notice.refresh_from_db()
    assert membership.active and notice.decision == "approved" and notice.acknowledged_by == gina
    entry = AuditEntry.objects.filter(
        action="accounts.membership.updated", object_id=str(membership.pk)
    ).last()
    assert entry.actor_id == gina.pk and entry.after == {"active": True} and "second person" in entry.reason
    assert RoleGrantNotice.objects.count() == 1  # the approval itself is not a new grant to review


def test_a_sole_leads_own_grant_goes_to_the_other_sites_leads(approval, gina, site_a, site_b, login):
    from tests.factories import UserFactory

    hana = UserFactory(username="hana")
    grant(hana, "site_governance_lead", site_b)
    membership = _give(gina, gina, "site_clinician", site_a)  # site A's only lead, to herself
    notice = RoleGrantNotice.objects.get(membership=membership)
    assert notice.needs_approval
    own = login(gina)
    assert own.post(
        f"/accounts/role-grants/{notice.pk}/acknowledge/", {"decision": "approve"}
    ).status_code in (
        302,
        403,
    )
    membership.refresh_from_db()
    assert not membership.active  # never approved by the person it benefits
    other = login(hana)
    assert "Waiting for your approval" in other.get("/").content.decode()
    other.post(f"/accounts/role-grants/{notice.pk}/acknowledge/", {"decision": "approve"})
    membership.refresh_from_db()
    notice.refresh_from_db()
    assert membership.active and notice.acknowledged_by == hana


def test_a_grant_its_own_site_can_approve_stays_with_that_site(approval, sam, gina, site_a, site_b, login):
    from tests.factories import UserFactory

    hana = UserFactory(username="hana")
    grant(hana, "site_governance_lead", site_b)
    _give(sam, sam, "site_clinician", site_a)  # gina, site A's lead, can approve it
    assert "Waiting for your approval" not in login(hana).get("/").content.decode()


def test_refused_grant_stays_inactive(approval, sam, gina, login, site_a):
    membership = _give(sam, sam, "site_clinician", site_a)
    notice = RoleGrantNotice.objects.get()
    login(gina).post(f"/accounts/role-grants/{notice.pk}/acknowledge/", {"decision": "refuse"})
    membership.refresh_from_db()
    notice.refresh_from_db()
    assert not membership.active and notice.decision == "refused"
    assert AuditEntry.objects.filter(action="accounts.role_grant.refused", actor_id=gina.pk).exists()


def test_the_grantee_cannot_approve_their_own_grant(approval, sam, gina, site_a):
    """A governance lead who grants themself another role at their site needs another lead."""
    membership = _give(gina, gina, "site_data_manager", site_a)
    notice = RoleGrantNotice.objects.get()
    from pdva.accounts.services import grants

    with audit_context(gina), pytest.raises(grants.SecondPersonRequired):
        grants.acknowledge(notice, gina)
    membership.refresh_from_db()
    assert not membership.active


def test_ticking_active_in_the_admin_does_not_bypass_approval(approval, sam, site_a):
    membership = _give(sam, sam, "site_clinician", site_a)
    membership.refresh_from_db()
    membership.active = True
    with audit_context(sam, reason="again"):
        membership.save()
    membership.refresh_from_db()
    assert not membership.active and RoleGrantNotice.objects.filter(needs_approval=True).count() == 2
