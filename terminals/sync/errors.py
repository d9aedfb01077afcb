"""Errors of the sync protocol and the site agent (a refused enrolment code is the sites
package's EnrolmentRefused).

PlatformError (core.errors)
├── NotAuthenticated
│   └── DeviceRefused       an unknown or revoked device token (401)
├── PermissionDenied
│   └── SiteSuspended       the device's site is suspended (403)
└── InvalidInput
    ├── BatchRefused        an upload batch breaks a rule (conflicting replay, too big...)
    └── ManifestRejected    the agent refuses a manifest (signature, site, age)
"""

from core.errors import InvalidInput, NotAuthenticated, PermissionDenied


class DeviceRefused(NotAuthenticated):
    """The bearer token names no device, or a revoked one."""


class SiteSuspended(PermissionDenied):
    """The device's site is suspended: it gets no manifest and may upload nothing."""


class BatchRefused(InvalidInput):
    """An upload batch was refused whole; nothing of it was stored."""


class ManifestRejected(InvalidInput):
    """The agent refuses a manifest: bad signature, another site's, or older than its last."""
