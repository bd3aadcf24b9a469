"""Evidence files, for every app that takes them (milestone evidence, control assessment evidence).

One rule for all: a file is accepted when its extension is on the allow-list AND its content is what the
extension says (leading bytes, or UTF-8 for text); it is stored under a name of ours (a UUID in hex) in its
organization's folder, never under the uploader's name; its SHA-256 and size are kept; it is handed out only
by an authenticated, organization-scoped download as an attachment of the content type we checked.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.http import FileResponse

from apps.core.errors import ValidationFailed

# Extension -> (content type, leading bytes the file must start with, or None for UTF-8 text).
EVIDENCE_TYPES = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
    ".csv": ("text/csv", None),
    ".txt": ("text/plain", None),
    ".json": ("application/json", None),
}
HEAD_BYTES = 4096
OCTET_STREAM = "application/octet-stream"
# What a download may be served as: the checked types, and octet-stream for files stored before the check.
EVIDENCE_CONTENT_TYPES = sorted({content_type for content_type, _ in EVIDENCE_TYPES.values()} | {OCTET_STREAM})


@dataclass(frozen=True)
class CheckedUpload:
    """What the checks found: the type comes from our table, never from the client's Content-Type."""

    original_name: str
    content_type: str
    size: int
    sha256: str


def evidence_content_type(upload, *, field: str = "file") -> str:
    """The content type of an allowed file whose content matches its extension; else a 400 naming `field`."""
    name = (upload.name or "").lower()
    extension = name[name.rfind(".") :] if "." in name else ""
    if extension not in EVIDENCE_TYPES:
        raise ValidationFailed.for_field(
            field, f"Files of type '{extension or 'none'}' are refused. Allowed: {', '.join(sorted(EVIDENCE_TYPES))}."
        )
    content_type, magic = EVIDENCE_TYPES[extension]
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    if magic is not None and not head.startswith(magic):
        raise ValidationFailed.for_field(field, f"The file's content is not {extension[1:].upper()}.")
    if magic is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the 4 KiB boundary is fine
                raise ValidationFailed.for_field(field, "Text evidence must be UTF-8.") from None
    return content_type


def evidence_check(upload, *, field: str = "file") -> CheckedUpload:
    """Size, type and content checks, then the digest; the upload is left rewound for storing."""
    if upload is None:
        raise ValidationFailed.for_field(field, f"Attach the evidence file as '{field}'.")
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        raise ValidationFailed.for_field(
            field, f"The file is {upload.size} bytes; the limit is {settings.EVIDENCE_MAX_BYTES} bytes."
        )
    if upload.size == 0:
        raise ValidationFailed.for_field(field, "The file is empty.")
    content_type = evidence_content_type(upload, field=field)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return CheckedUpload(
        original_name=(upload.name or "evidence")[:255],
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
    )


def evidence_path(*, organization_id, kind: str, parent_id, file_id) -> str:
    """evidence/<organization>/<kind>/<parent>/<our name>: one folder per tenant, no name the uploader chose."""
    return f"evidence/{organization_id}/{kind}/{parent_id}/{file_id.hex}"


def evidence_response(*, file, filename: str, content_type: str, sha256: str) -> FileResponse:
    """A stored evidence file as a download: an attachment, of the type we checked, which no browser may sniff."""
    response = FileResponse(file.open("rb"), as_attachment=True, filename=filename, content_type=content_type)
    response["X-Content-SHA256"] = sha256
    response["X-Content-Type-Options"] = "nosniff"
    return response
