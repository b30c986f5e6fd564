# paperbot image: the bot, its offline embedding model and nothing secret.
#   Build: docker build -t paperbot .
#   Run:   docker run -it --env-file .env -e PAPERBOT_DATA_DIR=/data -v paperbot-data:/data paperbot
#          (or: docker compose up). -e wins over the data dir a .env made from .env.example sets.
# BASE_IMAGE must be a Debian-like image with python3 (3.11+: tomllib) and its venv module:
# python:3.11-slim in production; `make docker-check` builds on a local Debian bookworm one.
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------
# build: a venv in /opt/paperbot with the dependencies, then the project.
# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

# Optional pip settings for builds behind a mirror or a TLS-inspecting proxy.
# Empty by default (pip then uses PyPI and its own CA bundle); pip ignores empty
# PIP_* variables. They exist in this stage only, never in the final image.
ARG PIP_INDEX_URL= \
    PIP_EXTRA_INDEX_URL= \
    PIP_TRUSTED_HOST= \
    PIP_CERT= \
    PIP_DEFAULT_TIMEOUT=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1

WORKDIR /src

# Dependencies first, pinned by constraints.txt: a layer that source edits reuse.
# The list is read from pyproject.toml (runtime and build-system requirements), so
# the source step below needs no network and no build isolation.
COPY pyproject.toml constraints.txt ./
RUN python3 -m venv /opt/paperbot \
    && python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))' > /tmp/requirements.txt \
    && /opt/paperbot/bin/python3 -m pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project (its package data carries the tokenizer; the model is a dependency)
# and the sample digest. .dockerignore lets in only what the image needs, so this
# one COPY is one layer (each layer is a full copy under buildah's vfs driver).
COPY . ./
RUN /opt/paperbot/bin/python3 -m pip install --no-deps --no-build-isolation . \
    && cp -r samples /opt/paperbot/samples \
    && /opt/paperbot/bin/paperbot --help > /dev/null

# ---------------------------------------------------------------------------
# runtime: the venv (with the sample digest), a non-root user and /data.
# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="paperbot" \
      org.opencontainers.image.description="A Discord bot that answers questions about recent AI papers, with citations." \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --gid 10001 paperbot \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/paperbot \
        --shell /usr/sbin/nologin paperbot \
    && mkdir -p /data \
    && chown 10001:10001 /data

ENV PATH=/opt/paperbot/bin:$PATH \
    PAPERBOT_DATA_DIR=/data \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

USER 10001:10001
WORKDIR /home/paperbot
VOLUME ["/data"]

# Cheap and side-effect free: the Chroma server answers its heartbeat (CHROMA_HOST
# set) or the data dir is writable (embedded store). It does not open the embedded
# Chroma store, which the running bot holds.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, tempfile, urllib.request as r; e = os.environ.get; h = e('CHROMA_HOST'); r.urlopen('http://%s:%s/api/v2/heartbeat' % (h, e('CHROMA_PORT') or 8000), timeout=5) if h else tempfile.TemporaryFile(dir=e('PAPERBOT_DATA_DIR') or '/data').close()"]

ENTRYPOINT ["paperbot"]
CMD ["start"]

# Last, after all the metadata above: a source edit then re-runs only this step
# of the runtime stage.
COPY --from=build /opt/paperbot /opt/paperbot
