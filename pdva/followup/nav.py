from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("Follow-up", "followup:worklist", Cap.VIEW_CLINICAL, 30),
    NavItem("Follow-up compliance", "followup:compliance", Cap.VIEW_SITE_REPORTS, 31),
    NavItem("Linkage", "followup:linkage", Cap.MANAGE_LINKAGE, 32),
    NavItem("Case ascertainment", "followup:ascertainment", Cap.MANAGE_LINKAGE, 33),
]
