# fastgw: build the C extension in a builder stage, run on a slim image as a non-root user.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY native ./native
COPY fastgw ./fastgw
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 fastgw
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY configs /etc/fastgw/configs
USER fastgw
# 3000: demo bind; 15000 admin (loopback by default); 15020 /metrics; 15021 readiness
EXPOSE 3000 15020 15021
ENTRYPOINT ["fastgw"]
CMD ["serve", "-f", "/etc/fastgw/configs/minimal.yaml"]
