"""The evidence rule shared by milestone and control assessment evidence (apps/core/uploads.py)."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.errors import ValidationFailed
from apps.core.uploads import EVIDENCE_TYPES, HEAD_BYTES, evidence_check


def test_the_type_comes_from_the_checked_content_not_from_the_client():
    upload = SimpleUploadedFile("Scan.PNG", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, content_type="text/html")
    checked = evidence_check(upload)
    assert checked.content_type == "image/png" and checked.original_name == "Scan.PNG"
    assert checked.sha256 == hashlib.sha256(upload.read()).hexdigest() and checked.size == 40


def test_text_cut_inside_a_multibyte_character_at_the_checked_boundary_is_accepted():
    text = ("a" * (HEAD_BYTES - 1) + "é" + "tail").encode("utf-8")  # "é" straddles the 4 KiB head
    assert evidence_check(SimpleUploadedFile("notes.txt", text)).content_type == "text/plain"


@pytest.mark.parametrize("name", ["fake.pdf", "page.html", "image.svg", "noextension"])
def test_html_is_refused_whatever_it_is_called(name):
    with pytest.raises(ValidationFailed) as refused:
        evidence_check(SimpleUploadedFile(name, b"<!doctype html><script>alert(1)</script>", "application/pdf"))
    assert list(refused.value.extra["fields"]) == ["file"]


def test_no_allowed_type_is_one_a_browser_would_run():
    assert not {".html", ".htm", ".svg", ".xhtml", ".js", ".xml"} & set(EVIDENCE_TYPES)
    assert all(not content_type.startswith("text/html") for content_type, _ in EVIDENCE_TYPES.values())
