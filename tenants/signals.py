"""What tenants announce for the apps above it to act on; the audit app records both.

tenants is the lower app (audit fans out over tenants and its API stands on
``tenants.api_view``), so tenants cannot call audit: it sends these and ``audit.apps`` connects
the receivers. ``send`` (not ``send_robust``) runs them synchronously in the sender's
transaction, so an audit row that cannot be written still fails the change it records.
"""

from django.dispatch import Signal

# A tenant-level change to record in the tenant's audit trail. Sent with ``tenant``,
# ``event_type`` (str), ``actor`` (str) and ``extra`` (dict), inside the change's transaction.
tenant_changed = Signal()

# A failed API-key authentication on a known tenant. Sent with ``tenant``, ``surface``,
# ``source``, ``reason`` (str) and ``extra`` (dict); never the key presented.
api_auth_failed = Signal()
