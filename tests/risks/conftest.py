import pytest

from apps.risks.services.matrices import risk_matrix_create
from apps.risks.services.registers import risk_register_create
from apps.risks.services.risks import risk_create


@pytest.fixture
def matrix5(org, officer):
    return risk_matrix_create(organization=org, name="Standard 5x5", preset="5x5", by=officer)


@pytest.fixture
def matrix3(org, officer):
    return risk_matrix_create(organization=org, name="Simple 3x3", preset="3x3", by=officer)


@pytest.fixture
def register(org, officer, matrix5):
    return risk_register_create(organization=org, name="Platform", matrix=matrix5, by=officer)


@pytest.fixture
def make_risk(register, officer, engineer):
    def make(**overrides):
        values = {
            "register": register,
            "title": "GPU saturation",
            "category": "infrastructure",
            "owner": engineer.username,
            "inherent_likelihood": 4,
            "inherent_impact": 4,
            "residual_likelihood": 2,
            "residual_impact": 3,
            "by": officer,
        } | overrides
        return risk_create(**values)

    return make
