# The runtime image for the worker and the API (`om worker`, `om api`): the
# runtime wheel only, built from pyproject.toml, so neither the sandbox nor the
# load tests, the benchmarks or the tests reach it (docs/operations.md,
# "Packaging and images").
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir "$(echo /wheels/om_orchestrator-*.whl)[postgres]" && rm -rf /wheels
ENV OM_HOME=/var/lib/om
WORKDIR /app
CMD ["om", "worker"]
