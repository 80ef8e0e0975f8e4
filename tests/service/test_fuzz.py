"""Schemathesis fuzzes every operation of the OpenAPI spec on the live server: no 5xx, ever.

Valid (positive) and invalid (negative) requests for each operation, sent with an admin key; a
bounded, derandomised number of examples keeps the run under a minute.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from tests.service.conftest import Server

EXAMPLES = 50  # per operation and generation mode


def test_the_api_never_answers_5xx(server: Server) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {server.keys['admin']}"}
    statuses: Counter[int] = Counter()
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 11
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
                statuses[response.status_code] += 1

            try:
                fuzz()
            except Unsatisfiable:  # nothing to make invalid (e.g. /v1/health takes no input)
                assert mode is schemathesis.GenerationMode.NEGATIVE
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert not [s for s in statuses if s >= 500]
