"""Roles and what each may do. The single source of the permission matrix."""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    SITE_CLINICIAN = "site_clinician", "Site clinician"
    SITE_DATA_MANAGER = "site_data_manager", "Site data manager"
    SITE_GOVERNANCE_LEAD = "site_governance_lead", "Site governance lead"
    NATIONAL_AUDITOR = "national_auditor", "National auditor"
    RESEARCHER = "researcher", "Researcher (de-identified data only)"
    SYSTEM_ADMIN = "system_admin", "System administrator"


SITE_ROLES = frozenset({Role.SITE_CLINICIAN, Role.SITE_DATA_MANAGER, Role.SITE_GOVERNANCE_LEAD})
NATIONAL_ROLES = frozenset({Role.NATIONAL_AUDITOR, Role.RESEARCHER, Role.SYSTEM_ADMIN})


class Cap(StrEnum):
    VIEW_CLINICAL = "view_clinical"  # record-level clinical data (pseudonymous)
    EDIT_CLINICAL = "edit_clinical"
    VIEW_IDENTIFIERS = "view_identifiers"  # NHS number, name, date of birth, postcode
    SIGN_OFF = "sign_off"  # sign and lock a completed case
    RAISE_QUERY = "raise_query"
    ANSWER_QUERY = "answer_query"
    MANAGE_GOVERNANCE = "manage_governance"  # site governance record, operators
    VIEW_SITE_REPORTS = "view_site_reports"
    VIEW_NATIONAL = "view_national"  # aggregate benchmarking across sites
    RESEARCH_EXPORT = "research_export"  # de-identified exports
    FULL_EXPORT = "full_export"
    ADMIN_REFERENCE = "admin_reference"
    MANAGE_LINKAGE = "manage_linkage"  # national-data linkage proposals and case ascertainment
    REMOVE_CASE = "remove_case"  # soft-delete a whole case or patient registered in error


MATRIX: dict[Role, frozenset[Cap]] = {
    Role.SITE_CLINICIAN: frozenset(
        {
            Cap.VIEW_CLINICAL,
            Cap.EDIT_CLINICAL,
            Cap.VIEW_IDENTIFIERS,
            Cap.SIGN_OFF,
            Cap.ANSWER_QUERY,
            Cap.VIEW_SITE_REPORTS,
        }
    ),
    Role.SITE_DATA_MANAGER: frozenset(
        {
            Cap.VIEW_CLINICAL,
            Cap.EDIT_CLINICAL,
            Cap.VIEW_IDENTIFIERS,
            Cap.RAISE_QUERY,
            Cap.ANSWER_QUERY,
            Cap.VIEW_SITE_REPORTS,
            Cap.FULL_EXPORT,
            Cap.MANAGE_LINKAGE,
            Cap.REMOVE_CASE,
        }
    ),
    Role.SITE_GOVERNANCE_LEAD: frozenset(
        {
            Cap.VIEW_CLINICAL,
            Cap.RAISE_QUERY,
            Cap.MANAGE_GOVERNANCE,
            Cap.VIEW_SITE_REPORTS,
        }
    ),
    Role.NATIONAL_AUDITOR: frozenset(
        {
            Cap.VIEW_CLINICAL,
            Cap.RAISE_QUERY,
            Cap.VIEW_SITE_REPORTS,
            Cap.VIEW_NATIONAL,
            Cap.RESEARCH_EXPORT,
        }
    ),
    Role.RESEARCHER: frozenset({Cap.RESEARCH_EXPORT}),
    Role.SYSTEM_ADMIN: frozenset({Cap.ADMIN_REFERENCE}),
}


def role_can(role: str, cap: Cap) -> bool:
    return cap in MATRIX.get(Role(role), frozenset())
