import pytest


@pytest.mark.django_db
def test_alice_sees_her_site_on_home(alice, site_a, site_b, login):
    response = login(alice).get("/")
    assert response.status_code == 200
    assert b"Site A Trust" in response.content
    assert b"Site B Trust" not in response.content
