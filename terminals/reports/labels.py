"""Names of the report card's duties and verdicts, as msgids for the pages, notices and
exports."""

from core.i18n import N_

DUTY_LABELS = {
    "study_day": N_("Study day"),
    "other_days": N_("Other days"),
    "group_sessions": N_("Group sessions"),
    "open_days": N_("Days open"),
}
VERDICT_LABELS = {
    "met": N_("Met"),
    "short": N_("Short"),
    "pending": N_("Pending"),
}
