from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("PROMs", "proms:index", Cap.VIEW_CLINICAL, 40),
    NavItem("PROM reports", "proms:reports", Cap.VIEW_SITE_REPORTS, 41),
]
