# alert-analyst receiver: python:3.11-slim, non-root, listens on 0.0.0.0:9099 in the container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ALERT_ANALYST_WEB__LISTEN_ADDRESS=0.0.0.0:9099 \
    ALERT_ANALYST_STORAGE__PATH=/var/lib/alert-analyst/alert-analyst.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY receiver ./receiver
COPY detectors ./detectors
COPY analyst ./analyst
COPY demo ./demo
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/alert-analyst --create-home alert-analyst

USER alert-analyst
EXPOSE 9099
VOLUME ["/var/lib/alert-analyst"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9099/-/healthy', timeout=2).status == 200 else 1)"
ENTRYPOINT ["alert-analyst"]
CMD ["serve"]
