"""Demo data: a 5x5 matrix and the seed strategy's risk register (from its template). Idempotent."""

from apps.risks.models import RiskMatrix, RiskRegister
from apps.risks.services.matrices import risk_matrix_create
from apps.risks.services.registers import risk_register_create
from apps.tenancy.models import Role

MATRIX_NAME = "Standard 5x5"
REGISTER_NAME = "Seed strategy risks"


def seed(*, organization, users, stdout) -> None:
    officer = users[Role.COMPLIANCE]
    matrix = RiskMatrix.objects.filter(organization=organization, name=MATRIX_NAME).first()
    if matrix is None:
        matrix = risk_matrix_create(organization=organization, name=MATRIX_NAME, preset="5x5", by=officer)
    if not RiskRegister.objects.filter(organization=organization, name=REGISTER_NAME).exists():
        register = risk_register_create(
            organization=organization,
            name=REGISTER_NAME,
            matrix=matrix,
            program="Seed round and EU scaling grant",
            template="seed-strategy",
            by=officer,
        )
        stdout.write(f"  risk register '{register.name}': {register.risks.count()} risks")
