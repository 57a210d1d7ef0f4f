# One image for every portal process: web (gunicorn), Celery worker and beat, the MQTT consumer
# and the one-shot migrate job. docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

# PYTHONPATH: the source tree in /app, not the copy pip puts in site-packages, is what runs,
# because settings find templates/, static/ and locale/ relative to it.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media \
    SPOOL_DIR=/data/spool

# WeasyPrint's libraries (libharfbuzz-subset0 makes Chinese font subsetting fast), Chinese
# fonts for PDFs, gettext to compile translations, and PostgreSQL's client tools (bookworm's
# are version 15, the server's) for `manage.py backup` / `restore` (pg_dump, pg_restore).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libffi-dev \
      fonts-noto-cjk gettext postgresql-client \
 && rm -rf /var/lib/apt/lists/*

# /data holds uploads and the readings spool. /mosquitto/auth receives the broker's password
# and ACL files (mode 0640): the directory's group is gid 1883, the `mosquitto` group of the
# eclipse-mosquitto image, and setgid so every file written there is readable by the broker
# and by nobody else. Named volumes mounted on these paths inherit owner, group and mode.
RUN groupadd --system --gid 1883 broker-auth \
 && useradd --system --uid 1000 --user-group --create-home --home-dir /home/nengtan nengtan \
 && mkdir -p /data/media /data/spool /mosquitto/auth \
 && chown -R nengtan:nengtan /data \
 && chown nengtan:broker-auth /mosquitto/auth \
 && chmod 2750 /mosquitto/auth

WORKDIR /app
COPY . /app
RUN pip install .
RUN if [ -d locale ]; then python manage.py compilemessages --ignore=.venv -v 0; fi
# The hashed static manifest needs production settings; this key exists only for this step.
RUN NENGTAN_ENV=production ALLOWED_HOSTS=build.invalid \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput -v 0

USER nengtan
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
