from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("Exports", "exports:index", Cap.RESEARCH_EXPORT, 80),
    NavItem("Exports", "exports:index", Cap.FULL_EXPORT, 80),
]
