from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("Patients", "capture:patients", Cap.VIEW_CLINICAL, 10),
    NavItem("Worklist", "capture:worklist", Cap.VIEW_CLINICAL, 12),
    NavItem("Data queries", "capture:queries", Cap.VIEW_CLINICAL, 14),
    NavItem("Governance", "capture:governance", Cap.VIEW_CLINICAL, 16),
]
