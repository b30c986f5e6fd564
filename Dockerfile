# paperbot image: the bot, its offline embedding model and nothing secret.
# Build: docker build -t paperbot .      Run: docker run --env-file .env -v paperbot-data:/data paperbot run
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
RUN python3 -m venv /opt/paperbot
# Dependencies first, pinned by constraints.txt, so source edits reuse this layer.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p bot index config \
    && touch bot/__init__.py index/__init__.py config/__init__.py \
    && /opt/paperbot/bin/pip install --no-cache-dir --disable-pip-version-check -c constraints.txt . \
    && /opt/paperbot/bin/pip uninstall -y paperbot
COPY bot ./bot
COPY index ./index
COPY config ./config
COPY samples ./samples
RUN /opt/paperbot/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps .

FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 paperbot \
    && mkdir -p /data \
    && chown paperbot /data
COPY --from=build /opt/paperbot /opt/paperbot
COPY --from=build /src/samples /opt/paperbot/samples
ENV PATH=/opt/paperbot/bin:$PATH \
    PAPERBOT_DATA_DIR=/data \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1
USER paperbot
WORKDIR /home/paperbot
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 CMD ["paperbot", "stats", "--json"]
ENTRYPOINT ["paperbot"]
CMD ["start"]
