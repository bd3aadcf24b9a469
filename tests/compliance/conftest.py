import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.compliance.models import FrameworkVersion
from apps.compliance.services.audits import privacy_audit_create
from apps.compliance.services.frameworks import FRAMEWORKS_DIR, framework_load


def load_shipped(name: str) -> FrameworkVersion:
    result = framework_load(text=(FRAMEWORKS_DIR / name).read_text(encoding="utf-8"), source=name)
    return FrameworkVersion.objects.get(framework__slug=result.slug, version=result.version)


@pytest.fixture
def gdpr(db) -> FrameworkVersion:
    return load_shipped("gdpr.yaml")


@pytest.fixture
def make_audit(org, officer, gdpr):
    def make(**overrides):
        values = {
            "organization": org,
            "framework_version": gdpr,
            "title": "GDPR 2026",
            "period_start": dt.date(2026, 1, 1),
            "period_end": dt.date(2026, 6, 30),
            "auditor": officer.username,
            "by": officer,
        } | overrides
        return privacy_audit_create(**values)

    return make


def upload(content: bytes | str, name: str = "data.csv") -> SimpleUploadedFile:
    raw = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, raw)


def multipart_file(content: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


FRAMEWORKS = Path(FRAMEWORKS_DIR)
