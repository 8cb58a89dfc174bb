from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("Follow-up", "followup:worklist", Cap.VIEW_CLINICAL, 30),
    NavItem("Follow-up compliance", "followup:compliance", Cap.VIEW_SITE_REPORTS, 31),
]
