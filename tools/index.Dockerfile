# syntax=docker/dockerfile:1.10
# The private index of compose.yaml: pypiserver behind tools/release/pypiserver_guard.py, the same
# guarded index `nox -s index` and the demo run (authentication first, immutable versions judged by
# parsed identity, uploads by the --uploader user only). Build context: tools/ (see .dockerignore).
# No credential is baked in: the htpasswd file is a compose secret, mounted at run time.

FROM python:3.11-slim-bookworm
RUN pip install --no-cache-dir "pypiserver[passlib]>=2.3,<3" "packaging>=24,<27"
COPY release/ /app/tools/release/
# A named volume starts with this directory's owner: the unprivileged user can write packages.
RUN mkdir -p /data/packages && chown 10001:10001 /data/packages
ENV PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
ENTRYPOINT ["python", "-m", "tools.release.pypiserver_guard"]
