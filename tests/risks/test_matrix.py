import pytest

from apps.core.errors import Conflict, ValidationFailed
from apps.risks.models import Risk
from apps.risks.selectors import risk_heat_map
from apps.risks.services.matrices import risk_matrix_create, risk_matrix_update
from apps.risks.services.registers import risk_register_create
from apps.risks.services.risks import risk_create, risk_update

pytestmark = pytest.mark.django_db


def test_a_3x3_register_beside_a_5x5_checks_scores_against_its_own_matrix(
    client_for, org, officer, matrix3, register, make_risk
):
    small = risk_register_create(organization=org, name="Pilot site", matrix=matrix3, by=officer)
    big_risk = make_risk(inherent_likelihood=5, inherent_impact=5)
    assert register.matrix.level_of(5, 5) == "critical"
    with pytest.raises(ValidationFailed) as refused:
        risk_create(
            register=small,
            title="Edge board failure",
            category="infrastructure",
            owner="cora",
            inherent_likelihood=2,
            inherent_impact=4,
            by=officer,
        )
    assert refused.value.extra == {
        "fields": {"inherent_impact": ["Must be a whole number from 1 to 3 on the register's 3x3 matrix 'Simple 3x3'."]}
    }
    small_risk = risk_create(
        register=small,
        title="Edge board failure",
        category="infrastructure",
        owner="cora",
        inherent_likelihood=3,
        inherent_impact=3,
        by=officer,
    )
    assert matrix3.level_of(3, 3) == "high" and matrix3.level_of(1, 2) == "low"

    client = client_for(officer)
    response = client.patch(f"/api/risks/{small_risk.pk}/", {"residual_likelihood": 4})
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["residual_likelihood"]
    assert "1 to 3" in response.json()["message"]
    response = client.patch(f"/api/risks/{big_risk.pk}/", {"residual_likelihood": 4})
    assert response.status_code == 200 and response.json()["residual_level"] == "high"
    response = client.post(
        "/api/risks/",
        {
            "register": str(small.pk),
            "title": "x",
            "category": "market",
            "owner": "cora",
            "inherent_likelihood": 0,
            "inherent_impact": 2,
        },
    )
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["inherent_likelihood"]


def test_matrix_labels_and_levels_are_data_validated_by_the_service(org, officer, matrix5, make_risk):
    with pytest.raises(ValidationFailed, match="2 to 10 steps"):
        risk_matrix_create(
            organization=org,
            name="Bad",
            likelihood_labels=["Only"],
            impact_labels=["A", "B"],
            levels=[{"key": "low", "min_score": 1}],
            by=officer,
        )
    with pytest.raises(ValidationFailed, match="must ascend"):
        risk_matrix_create(
            organization=org,
            name="Bad",
            likelihood_labels=["L", "H"],
            impact_labels=["l", "h"],
            levels=[{"key": "low", "min_score": 1}, {"key": "high", "min_score": 1}],
            by=officer,
        )
    with pytest.raises(ValidationFailed, match="above the largest score, 4"):
        risk_matrix_create(
            organization=org,
            name="Bad",
            likelihood_labels=["L", "H"],
            impact_labels=["l", "h"],
            levels=[{"key": "low", "min_score": 1}, {"key": "high", "min_score": 5}],
            by=officer,
        )
    four_by_five = risk_matrix_create(
        organization=org,
        name="4x5",
        likelihood_labels=["Rare", "Some", "Often", "Always"],
        impact_labels=["1", "2", "3", "4", "5"],
        levels=[{"key": "ok", "label": "OK", "min_score": 1}, {"key": "act", "label": "Act", "min_score": 8}],
        by=officer,
    )
    assert (four_by_five.likelihood_size, four_by_five.impact_size) == (4, 5)

    make_risk(inherent_likelihood=5, inherent_impact=2, residual_likelihood=1, residual_impact=1)
    relabelled = risk_matrix_update(
        matrix=matrix5, by=officer, impact_labels=["Tiny", "Small", "Medium", "Big", "Huge"]
    )
    assert relabelled.impact_labels[0] == "Tiny"
    with pytest.raises(Conflict, match="1 risk"):
        risk_matrix_update(
            matrix=matrix5,
            by=officer,
            likelihood_labels=["L", "M", "H"],
            levels=[{"key": "low", "label": "Low", "min_score": 1}],
        )


def test_heat_map_counts_inherent_current_and_residual_per_cell(client_for, register, make_risk, officer, viewer):
    first = make_risk()  # inherent 4x4, residual 2x3
    make_risk(
        title="Cost growth",
        category="scaling",
        inherent_likelihood=4,
        inherent_impact=4,
        residual_likelihood=1,
        residual_impact=1,
    )
    closed = make_risk(title="Old", inherent_likelihood=1, inherent_impact=1)
    from apps.risks.services.risks import risk_close

    risk_close(risk=closed, by=officer)
    risk_update(risk=first, by=officer, current_likelihood=3)

    heat = risk_heat_map(register=register)
    assert heat["total"] == 2
    assert heat["grids"]["inherent"][3][3] == 2
    assert heat["grids"]["current"][2][3] == 1 and heat["grids"]["current"][3][3] == 1
    assert heat["grids"]["residual"][1][2] == 1 and heat["grids"]["residual"][0][0] == 1
    cell = next(c for c in heat["cells"] if (c["likelihood"], c["impact"]) == (4, 4))
    assert cell == {
        "likelihood": 4,
        "impact": 4,
        "score": 16,
        "level": "high",
        "inherent": 2,
        "current": 1,
        "residual": 0,
    }
    assert len(heat["cells"]) == 25

    response = client_for(viewer).get(f"/api/risk-registers/{register.pk}/heat-map/?include_closed=true")
    assert response.status_code == 200
    assert response.json()["total"] == 3 and response.json()["matrix"]["likelihood_labels"][4] == "Almost certain"
    assert Risk.objects.count() == 3


@pytest.mark.parametrize(("likelihoods", "impacts"), [(3, 5), (5, 3)])
def test_a_non_square_matrix_checks_each_score_against_its_own_axis(client_for, org, officer, likelihoods, impacts):
    matrix = risk_matrix_create(
        organization=org,
        name=f"{likelihoods}x{impacts}",
        likelihood_labels=[f"L{n}" for n in range(1, likelihoods + 1)],
        impact_labels=[f"I{n}" for n in range(1, impacts + 1)],
        levels=[{"key": "low", "label": "Low", "min_score": 1}, {"key": "high", "label": "High", "min_score": 9}],
        by=officer,
    )
    wide = risk_register_create(organization=org, name="Edge fleet", matrix=matrix, by=officer)
    client = client_for(officer)
    body = {"register": str(wide.pk), "title": "Board brown-out", "category": "infrastructure", "owner": "cora"}

    def create(likelihood, impact):
        return client.post("/api/risks/", body | {"inherent_likelihood": likelihood, "inherent_impact": impact})

    refused_field = "inherent_likelihood" if likelihoods < impacts else "inherent_impact"
    refused = create(5, 5)
    assert refused.status_code == 400
    assert refused.json()["extra"]["fields"] == {
        refused_field: [
            f"Must be a whole number from 1 to 3 on the register's {likelihoods}x{impacts} matrix "
            f"'{likelihoods}x{impacts}'."
        ]
    }
    created = create(likelihoods, impacts)
    assert created.status_code == 201, created.json()
    assert created.json()["inherent_level"] == "high"
    risk = created.json()["id"]
    assert client.patch(f"/api/risks/{risk}/", {"residual_likelihood": likelihoods}).status_code == 200
    assert client.patch(f"/api/risks/{risk}/", {"residual_impact": impacts}).status_code == 200
    too_far = "residual_likelihood" if likelihoods < impacts else "residual_impact"
    response = client.patch(f"/api/risks/{risk}/", {too_far: 4})
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == [too_far]
