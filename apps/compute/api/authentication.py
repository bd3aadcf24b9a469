"""`Authorization: Device <token>`: a device's push token. It authenticates that device's ingest and nothing else."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from apps.compute.models import Device
from apps.compute.services.devices import device_for_token


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Device"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw = header.partition(" ")
        if keyword != self.keyword:
            return None
        device = device_for_token(raw.strip())
        if device is None:
            raise exceptions.AuthenticationFailed("Invalid device token.")
        # No user: the device is the credential (request.auth).
        return AnonymousUser(), device

    def authenticate_header(self, request):
        return self.keyword


class HasDeviceToken(permissions.BasePermission):
    message = "Send the device's token: Authorization: Device <token>."

    def has_permission(self, request, view):
        return isinstance(request.auth, Device)


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.compute.api.authentication.DeviceTokenAuthentication"
    name = "deviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <token>`: the push token shown once when the device was registered (gtd_…).",
        }
