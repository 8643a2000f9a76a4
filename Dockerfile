# syntax=docker/dockerfile:1
# alert-analyst receiver: python:3.11-slim, non-root, listens on 0.0.0.0:9099 in the container.
#   docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t alert-analyst .
#   docker build --build-arg EXTRAS=llm ...   # with the Anthropic/OpenAI SDKs (LLM backends)
FROM python:3.11-slim

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG EXTRAS=""
LABEL org.opencontainers.image.title="alert-analyst" \
      org.opencontainers.image.description="Explains Prometheus alerts: evidence from PromQL, statistical detection, diagnoses written back to Grafana, Slack and PagerDuty." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALERT_ANALYST_REVISION=${REVISION} \
    ALERT_ANALYST_DEFAULTS_FILE=/usr/local/share/alert-analyst/defaults.yml

WORKDIR /app
# Dependency layer: rebuilt only when pyproject.toml (or EXTRAS) changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in sys.argv[1].split(',') if e]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" "${EXTRAS}" \
      > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && groupadd --system --gid 10001 alert-analyst \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/alert-analyst --create-home alert-analyst

# The code (bench/ and tests/ stay out: see .dockerignore and pyproject's package list).
COPY README.md LICENSE ./
COPY receiver ./receiver
COPY detectors ./detectors
COPY analyst ./analyst
COPY demo ./demo
RUN pip install --no-deps .
# Listen on 0.0.0.0:9099 and store in the volume, as defaults a mounted --config.file overrides
# (ALERT_ANALYST_<SECTION>__<KEY> variables here would override the file's keys instead).
COPY deploy/docker/defaults.yml /usr/local/share/alert-analyst/defaults.yml

USER alert-analyst
EXPOSE 9099
# SIGTERM drains in-flight stages for pipeline.shutdown_timeout_seconds (20 s): Docker's default stop timeout
# is 10 s, so run with --stop-timeout 30 (docker stop -t 30, Compose stop_grace_period: 30s).
STOPSIGNAL SIGTERM
VOLUME ["/var/lib/alert-analyst"]
# Probes /-/healthy on the address the running server was configured with (flags, environment or file).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 CMD ["alert-analyst", "healthcheck"]
ENTRYPOINT ["alert-analyst"]
CMD ["serve"]
