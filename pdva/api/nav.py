from pdva.accounts.roles import Cap
from pdva.web.nav import NavItem

NAV = [NavItem("API tokens", "api_tokens", Cap.VIEW_CLINICAL, 90)]
