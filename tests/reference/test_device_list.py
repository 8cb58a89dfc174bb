"""The coded device list is versioned reference data with its verification status, and the procedure's
device field takes only its codes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from pdva.reference.devices import device_choices, device_table, devices_for_technique
from pdva.registry.models import Procedure


def test_the_table_is_versioned_and_says_what_is_verified():
    table = device_table()
    assert table.version == "2026.1" and table.verification == "partly_verified"
    by_code = {c["code"]: c for c in table.cells}
    assert by_code["limflow_system"]["verification"] == "verified"
    assert "P220025" in by_code["limflow_system"]["regulatory"]
    assert all(c["verification"] in ("verified", "category") for c in table.cells)
    assert len(by_code) == len(table.cells)  # codes are unique


def test_devices_offered_for_a_technique_include_the_generic_ones():
    assert devices_for_technique("dedicated_system") == ["limflow_system", "other", "not_known"]
    assert "limflow_system" not in devices_for_technique("off_the_shelf_percutaneous")


def test_the_procedure_field_offers_exactly_the_tables_codes():
    field = Procedure._meta.get_field("device_code")
    assert list(field.choices) == device_choices("2026.1")


@pytest.mark.django_db
def test_a_code_outside_the_list_is_refused():
    from tests.factories import ProcedureFactory

    procedure = ProcedureFactory()
    procedure.device_code = "acme_9434765919"
    with pytest.raises(ValidationError) as refused:
        procedure.full_clean()
    assert "device_code" in refused.value.message_dict
