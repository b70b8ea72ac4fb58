from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """End users' connected accounts: connect links, the OAuth connect flow, token refresh,
    provider token calls, the connect pages, the accounts API, readiness and session-token
    minting. No models of its own: they stay in ``vault.models`` (its tables and migrations).

    An app (not a plain package) so Celery's ``autodiscover_tasks`` finds ``accounts.tasks``.
    """

    name = "accounts"
    verbose_name = "Connected accounts"
