# syntax=docker/dockerfile:1

# Browser packages from npm (only this stage has Node.js).
FROM node:20-slim AS vendor
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
    && mkdir -p vendor/swagger-ui \
    && cp node_modules/hls.js/dist/hls.light.min.js node_modules/tus-js-client/dist/tus.min.js vendor/ \
    && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js \
          node_modules/swagger-ui-dist/swagger-ui.css vendor/swagger-ui/ \
    && cp node_modules/echarts/dist/echarts.min.js vendor/ && mkdir -p vendor/maps \
    && for f in node_modules/china-geojson/src/geojson/*.json; do \
         name=$(basename "$f" .json); cp "$f" "vendor/maps/${name%_geo}.json"; done

# The project and its dependencies in a virtualenv (ffmpeg comes from the imageio-ffmpeg wheel).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY courseware ./courseware
COPY terminals ./terminals
COPY streaming ./streaming
COPY web ./web
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    YUANJIAO_HOME=/data
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home yuanjiao \
    && mkdir -p /app /data \
    && chown yuanjiao:yuanjiao /data
COPY --from=build /opt/venv /opt/venv
# The vendor files are not package data (they are built); put them where web/static is served from.
COPY --from=vendor /build/vendor/ /opt/venv/lib/python3.11/site-packages/web/static/vendor/
# gzip and brotli copies of every static file, vendor files included (see web/assets.py).
RUN python -m web.assets
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
USER yuanjiao
EXPOSE 8000
CMD ["yuanjiao", "serve", "--host", "0.0.0.0", "--port", "8000"]
