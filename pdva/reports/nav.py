from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [
    NavItem("Reports", "reports:index", Cap.VIEW_SITE_REPORTS, 40),
    NavItem("National benchmarking", "reports:national", Cap.VIEW_NATIONAL, 45),
]
