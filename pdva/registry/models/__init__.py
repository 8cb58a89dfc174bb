"""The pDVA clinical data model. One module per part of the patient's story."""

from pdva.registry.models.care import (
    AdverseEvent,
    Amputation,
    Death,
    FollowUpVisit,
    Medication,
    PromAdministration,
    Reintervention,
)
from pdva.registry.models.patients import Patient, PatientIdentity
from pdva.registry.models.procedure import Baseline, ConsentGovernance, Procedure
from pdva.registry.models.sites import Operator, Site, SiteGovernance

__all__ = [
    "AdverseEvent",
    "Amputation",
    "Baseline",
    "ConsentGovernance",
    "Death",
    "FollowUpVisit",
    "Medication",
    "Operator",
    "Patient",
    "PatientIdentity",
    "Procedure",
    "PromAdministration",
    "Reintervention",
    "Site",
    "SiteGovernance",
]

# Every model here holds clinical, identity or governance data and is audited.
AUDITED_MODELS = [globals()[name] for name in __all__]
