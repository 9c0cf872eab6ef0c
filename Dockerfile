# Tingfeng application image: the API (`tingfeng serve`), the scheduler (`tingfeng run`) and
# crawls (`python -m crawlers.run`) all run from this one image; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Pango/HarfBuzz for WeasyPrint (PDF digests); a CJK font so Chinese text renders in them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies from the lock file, every download checked against its hash; then the app itself
# without resolving anything again. Regenerate the lock after changing pyproject.toml:
#   uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements.lock
COPY requirements.lock /app/requirements.lock
RUN pip install --require-hashes --no-deps -r /app/requirements.lock
COPY . /app
RUN pip install --no-deps /app \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tingfeng \
    && mkdir -p /data \
    && chown tingfeng: /data

USER tingfeng
ENV TINGFENG_DATA_DIR=/data \
    TINGFENG_API_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 8000

ENTRYPOINT ["tingfeng"]
CMD ["run"]
