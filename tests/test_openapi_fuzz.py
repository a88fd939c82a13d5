"""Property-based fuzzing of every endpoint from the OpenAPI document: whatever the input,
the API answers without a 500, with a documented status, and problem+json on errors."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.factories import key_for


@pytest.fixture
def api_schema(app, session):
    token = key_for(session)
    app.state.fuzz_headers = {"Authorization": f"Bearer {token}"}
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_input_makes_the_api_fail(case, app):
    response = case.call(headers=app.state.fuzz_headers)
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
    case.validate_response(
        response,
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_schema_conformance,
        ],
    )
