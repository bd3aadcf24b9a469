from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice

# django-otp's admin would let staff add a device to anyone's account and show its secret as a QR code; the
# support window shows no second factor (people set theirs up on the Account security page).
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
