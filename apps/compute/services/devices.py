"""Devices: registration with a push token (shown once, stored as SHA-256), token rotation, and the devices a
collector discovers."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields
from apps.compute import permissions
from apps.compute.models import ComputeSource, Device, DeviceKind
from apps.core.errors import Conflict, ValidationFailed
from apps.tenancy.services import require, token_hash

DEVICE_TOKEN_PREFIX = "gtd_"  # noqa: S105 - a public marker, not a secret


def _new_token() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"{DEVICE_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def clean_labels(labels, *, field: str = "labels") -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict) or any(not isinstance(v, str | int | float) for v in labels.values()):
        raise ValidationFailed.for_field(field, "Labels are an object of names to strings.")
    cleaned = {str(k).strip(): str(v) for k, v in labels.items()}
    if any(not k or len(k) > 100 for k in cleaned):
        raise ValidationFailed.for_field(field, "Label names are 1 to 100 characters.")
    return cleaned


def _clean_key(key) -> str:
    key = (key or "").strip() if isinstance(key, str) else ""
    if not key or len(key) > 200:
        raise ValidationFailed.for_field("key", "A device key is 1 to 200 characters (a hostname, a GPU UUID).")
    return key


def device_create(
    *,
    organization,
    by,
    key: str,
    kind: str = DeviceKind.GPU,
    labels: dict | None = None,
    source: ComputeSource | None = None,
    with_token: bool = True,
) -> tuple[Device, str | None]:
    """Registers a device; returns it with its push token, which is never stored and cannot be shown again."""
    require(permissions.can_manage_devices(by, organization))
    key = _clean_key(key)
    if kind not in DeviceKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(DeviceKind.values)}.")
    if source is not None and source.organization_id != organization.pk:
        raise ValidationFailed.for_field("source", "Unknown in this organization.")
    prefix, raw = _new_token() if with_token else ("", None)
    try:
        with transaction.atomic():
            device = Device.objects.create(
                organization=organization,
                key=key,
                kind=kind,
                labels=clean_labels(labels),
                source=source,
                token_prefix=prefix,
                token_hash=token_hash(raw) if raw else None,
            )
            audit_record(
                action="compute.device_registered",
                actor=by,
                organization=organization,
                obj=device,
                after={"key": key, "kind": kind, "labels": device.labels, "token_prefix": prefix},
            )
    except IntegrityError:
        raise Conflict(f"A device with the key '{key}' is already registered.") from None
    return device, raw


def device_update(*, device: Device, by, kind: str | None = None, labels: dict | None = None) -> Device:
    require(permissions.can_manage_devices(by, device.organization))
    if kind is not None and kind not in DeviceKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(DeviceKind.values)}.")
    new_labels = clean_labels(labels) if labels is not None else None
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        before = {"kind": device.kind, "labels": device.labels}
        device.kind = kind or device.kind
        device.labels = new_labels if new_labels is not None else device.labels
        device.save(update_fields=["kind", "labels", "updated_at"])
        old, new = changed_fields(before, {"kind": device.kind, "labels": device.labels})
        if new:
            audit_record(
                action="compute.device_updated",
                actor=by,
                organization=device.organization,
                obj=device,
                before=old,
                after=new,
            )
    return device


def device_rotate_token(*, device: Device, by) -> tuple[Device, str]:
    """Replaces the device's token; the old one stops working at once."""
    require(permissions.can_manage_devices(by, device.organization))
    prefix, raw = _new_token()
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        old_prefix = device.token_prefix
        device.token_prefix, device.token_hash = prefix, token_hash(raw)
        device.save(update_fields=["token_prefix", "token_hash", "updated_at"])
        audit_record(
            action="compute.device_token_rotated",
            actor=by,
            organization=device.organization,
            obj=device,
            before={"token_prefix": old_prefix},
            after={"token_prefix": prefix},
        )
    return device, raw


def device_for_token(raw: str) -> Device | None:
    """The device a push token belongs to, or None."""
    if not raw or not raw.startswith(DEVICE_TOKEN_PREFIX):
        return None
    return Device.objects.select_related("organization").filter(token_hash=token_hash(raw)).first()


def devices_for_keys(*, source: ComputeSource, keys_labels: dict[str, dict[str, str]], kind: str) -> dict[str, Device]:
    """The source organization's devices by key; the ones a collector reports for the first time are created."""
    organization = source.organization
    found = {d.key: d for d in Device.objects.filter(organization=organization, key__in=list(keys_labels))}
    missing = [key for key in keys_labels if key not in found]
    if missing:
        now = timezone.now()
        Device.objects.bulk_create(
            [
                Device(
                    organization=organization,
                    key=key,
                    kind=kind,
                    labels=keys_labels[key],
                    source=source,
                    last_seen_at=now,
                )
                for key in missing
            ],
            ignore_conflicts=True,
        )
        created = Device.objects.filter(organization=organization, key__in=missing)
        for device in created:
            found[device.key] = device
        audit_record(
            action="compute.devices_discovered",
            organization=organization,
            obj=source,
            after={"keys": sorted(missing)},
        )
    return found
