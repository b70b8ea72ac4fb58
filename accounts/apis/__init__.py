"""REST: connected accounts and magic links (``accounts``), a config's per-user readiness
(``readiness``) and its session tokens (``tokens``)."""
