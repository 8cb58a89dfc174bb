import pytest

pytestmark = pytest.mark.django_db


def test_pages_render(alice, login, full_case_a):
    c = login(alice)
    p = full_case_a.patient
    for url in [
        "/cases/",
        f"/cases/patients/{p.uuid}/",
        f"/cases/case/{full_case_a.uuid}/",
        f"/cases/baseline/{full_case_a.baseline.uuid}/",
        f"/cases/baseline/{full_case_a.baseline.uuid}/history/",
        "/cases/worklist/",
        "/cases/queries/",
        "/cases/governance/",
        f"/cases/visit/new/{full_case_a.uuid}/",
        f"/cases/prom/new/{full_case_a.uuid}/",
        f"/cases/case/{full_case_a.uuid}/sign/",
        "/cases/register/",
        "/cases/stage/?baseline-wifi_w=0&baseline-wifi_i=2&baseline-wifi_fi=3",
    ]:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code, r.content[:3000])
