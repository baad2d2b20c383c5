"""Schemathesis against each service's OpenAPI schema, every operation, as a facilitator (so requests get past
auth and reach validation and the domain code) on the four services running as real processes: no answer is a 5xx,
and every 4xx is JSON with a French `detail` (campaign_support.french_problem).

Cases come from schemathesis' generators in both modes: positive (valid by the schema: they reach the business
rules) and negative (wrong types, out-of-range or huge numbers, missing or unknown fields, junk unicode strings,
impossible dates...). Each field of the path, query or body then keeps its generated value or takes the id of a
seeded object (`lot_id`, `placement_id`, `buyer_id`...: requests also act on real buyers, markets, lots, placements
and entries) or an edge value of its type (2026-02-30, 10^30, 1e308, blanks, NUL, 5,000 accented letters).
Derandomized: every run sends the same cases."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from campaign.campaign_support import FACILITATOR, SERVICES, Fleet, french_problem, service_app
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode

MAX_EXAMPLES = 10  # per operation and mode: ~850 requests in all

SCHEMAS = {service: schemathesis.openapi.from_dict(service_app(service).openapi()) for service in SERVICES}
OPERATIONS = [(service, result.ok()) for service, schema in SCHEMAS.items() for result in schema.get_all_operations()]
# Negative data needs something to break: operations with neither parameters nor body get positive data only.
CASES = [(service, operation, mode) for service, operation in OPERATIONS for mode in GenerationMode
         if mode == GenerationMode.POSITIVE or len(operation.path_parameters) + len(operation.query) + len(operation.body)]


# Values people and scripts really send, which generators rarely hit: impossible dates, overflowing numbers, blanks,
# control characters, very long text.
EDGE_TEXTS = ["", "   ", "2026-02-30", "2026-13", "0000-00-00", "\x00", "\u202eé'\";--", "é" * 5000]
EDGE_NUMBERS = [0, -1, 10**30, -(10**30), 1e308, 0.001]


def mutated(data: st.DataObject, values: Any, ids: dict[str, list[str]]) -> Any:
    """`values` where each field keeps its generated value or takes the id of a seeded object (fields naming one)
    or an edge value of its type."""
    if not isinstance(values, dict):
        return values

    def choices(key: str, value: Any) -> list[Any]:
        edges = EDGE_TEXTS if isinstance(value, str) else EDGE_NUMBERS if isinstance(value, int | float) else []
        return [value, *ids.get(key, []), *edges]

    return {k: data.draw(st.sampled_from(choices(k, v)), label=k) for k, v in values.items()}


@pytest.mark.parametrize(("service", "operation", "mode"), CASES, ids=[f"{s} {op.label} {m.value}" for s, op, m in CASES])
def test_no_server_error_and_every_refusal_in_french(fleet: Fleet, service: str, operation: Any,
                                                      mode: GenerationMode):
    @hypothesis.settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=operation.as_strategy(mode), data=st.data())
    def fuzz(case: schemathesis.Case, data: st.DataObject) -> None:
        case.path_parameters = mutated(data, case.path_parameters, fleet.ids)
        case.query = mutated(data, case.query, fleet.ids)
        case.body = mutated(data, case.body, fleet.ids)
        response = case.call(base_url=fleet.urls[service], headers=FACILITATOR)
        problem = french_problem(response.status_code, response.headers.get("content-type", [""])[0], response.content)
        assert problem is None, f"{case.method} {case.formatted_path} → {problem}\n{case.as_curl_command()}"

    fuzz()
