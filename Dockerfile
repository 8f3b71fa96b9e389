# Serval, CPU image. Built from binaries made on the host, so no toolchain
# image is needed: `make image` (tag serval:latest) builds bin/serval and the
# llama.cpp CPU libraries, stages them as the build context (serval, lib/) in
# .cache/image/cpu and builds this file; see docs/deploy.md. The CUDA image is
# Dockerfile.cuda (`make image DEVICE=cuda`).
#
#   docker run -d --name serval -p 8080:8080 -v $HOME/.serval:/data serval:latest \
#     serve --model Qwen2.5-Coder-1.5B --chat-model Qwen2-1.5B-Instruct
#
# The first API token is printed to the log (docker logs serval) at the first
# start and saved as /data/initial-token.

# make image passes a locally built Debian base (no registry is needed);
# elsewhere the official image is used.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# A fixed uid/gid so a bind-mounted data directory can be prepared for it:
# chown 10001:10001 ~/.serval (see docs/deploy.md).
RUN groupadd --system --gid 10001 serval \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin serval \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data

COPY serval /opt/serval/serval
COPY lib/ /opt/serval/lib/cpu/

# Inside the container serval listens on every interface (the port is
# published with -p) with token auth on; --no-auth is refused off loopback.
ENV SERVAL_DATA_DIR=/data \
    SERVAL_HOST=0.0.0.0 \
    SERVAL_LIB_DIR=/opt/serval/lib/cpu \
    HOME=/data \
    PATH=/opt/serval:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

USER 10001:10001
VOLUME /data
EXPOSE 8080
# serval finishes requests in flight (--shutdown-grace, 5 s) and exits 0.
STOPSIGNAL SIGTERM
# /healthz needs no token and says nothing but "ok". A first start that
# downloads a model may take minutes: failures then do not count.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 CMD ["/opt/serval/serval", "healthcheck"]
ENTRYPOINT ["/opt/serval/serval"]
CMD ["serve"]
