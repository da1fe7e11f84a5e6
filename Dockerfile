# One image for the worker, the API and the sandbox (`om worker`, `om api`, `om sandbox`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY api api
COPY cli cli
COPY sandbox sandbox
RUN pip install --no-cache-dir '.[postgres]'
ENV OM_HOME=/var/lib/om
CMD ["om", "worker"]
