"""Signals other apps listen to. Sent only after the change has committed."""

from django.dispatch import Signal

# A config's exposed tools may have changed (mappings edited, config deleted).
# Sent with ``config_id`` (str) and ``tenant_schema`` (str); the gateway turns it into
# ``notifications/tools/list_changed`` for that config's live sessions.
config_changed = Signal()
