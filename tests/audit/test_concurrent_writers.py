"""Concurrent writers are serialised, so the audit chain stays linear (one entry per position)."""

import threading

import pytest
from django.db import connection, connections

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.registry.models import Patient

pytestmark = pytest.mark.django_db(transaction=True)


def test_parallel_writers_keep_one_linear_chain(site_a):
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(k: int) -> None:
        try:
            start.wait()
            with audit_context(label=f"test:writer{k}", reason="parallel write"):
                for n in range(8):
                    Patient(site=site_a, registry_id=f"PD-T{k}{n:02d}-CONC").save()
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Patient.objects.filter(registry_id__endswith="-CONC").count() == 32
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify_chain() == len(seqs)
    assert connection.vendor in ("sqlite", "postgresql")
