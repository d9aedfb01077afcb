"""Errors of terminal sites, on core's tree (core/errors.py):

PlatformError
└── InvalidInput
    └── EnrolmentRefused   the enrolment code is wrong, used, expired, or its site suspended
"""

from core.errors import InvalidInput


class EnrolmentRefused(InvalidInput):
    """An agent's enrolment code cannot be exchanged; the message says why, without telling
    which site a wrong code might have belonged to."""
