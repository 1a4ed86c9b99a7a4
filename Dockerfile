# otabot serve in a slim image that runs as a user of its own. How to build and run it,
# and what it cannot do, is in the README ("Running in a container").
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/otabot
COPY pyproject.toml README.md ./
COPY otabot ./otabot
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 otabot \
    && useradd --system --uid 10001 --gid otabot --create-home --home-dir /home/otabot \
        --shell /usr/sbin/nologin otabot

# Numeric, so that a cluster's runAsNonRoot can check it. The home holds nothing but
# what an operator mounts (an aliyun CLI profile at /home/otabot/.aliyun/config.json).
USER 10001:10001
ENV HOME=/home/otabot

EXPOSE 3000
# GET /healthz answers on port 3000: beside /slack/events in HTTP mode (the default
# command below), on its own in Socket Mode.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"]

ENTRYPOINT ["otabot", "serve"]
CMD ["--http", "--host", "0.0.0.0", "--port", "3000"]
