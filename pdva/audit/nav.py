from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("Audit trail", "audit:trail", Cap.VIEW_NATIONAL, 90),
    NavItem("Audit trail", "audit:trail", Cap.MANAGE_GOVERNANCE, 90),
]
