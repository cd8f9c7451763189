# Catchup: the web app, Celery worker and beat share this one image; the
# command differs (see docker-compose.yml).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The source tree in /app wins over the installed copy, so settings find
    # templates/ and static/ beside them.
    PYTHONPATH=/app \
    CATCHUP_DATA_DIR=/app/var \
    # gunicorn reads this; tune per host (2-4 per CPU).
    WEB_CONCURRENCY=3

WORKDIR /app

# A user without a login shell or a home to write into besides ~/.aws (mounted
# read-only by docker-compose).
RUN groupadd --system --gid 10001 catchup \
    && useradd --system --uid 10001 --gid catchup --home-dir /home/catchup \
       --create-home --shell /usr/sbin/nologin catchup

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN mkdir -p catchup inventory findings \
    && touch catchup/__init__.py inventory/__init__.py findings/__init__.py \
    && pip install . \
    && rm -rf catchup inventory findings build *.egg-info

COPY . .
RUN pip install --no-deps . && rm -rf build *.egg-info

# Static files are collected into the image; WhiteNoise serves them. The key
# below exists only for this build step (settings need one to import).
RUN SECRET_KEY=collectstatic-only-not-a-secret CATCHUP_DATA_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var \
    && mkdir -p /app/var \
    && chown catchup:catchup /app/var

USER catchup

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

CMD ["gunicorn", "catchup.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--timeout", "60"]
