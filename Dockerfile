# fastgw: every wheel (the C extension included) built in a builder stage; a slim runtime image
# running as a non-root user. The default command is the demo, the gateway in front of the bundled
# fake LLM provider, so `docker run -p 3000:3000 IMAGE` answers the README's curl lines.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The dependencies' wheels come from pyproject.toml alone: this layer is reused until they change.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip wheel --no-cache-dir --wheel-dir /deps -r requirements.txt \
    && pip install --no-cache-dir "setuptools>=74.1" wheel
COPY README.md ./
COPY native ./native
COPY configs ./configs
COPY fastgw ./fastgw
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 fastgw
COPY --from=build /deps /deps
RUN pip install --no-cache-dir --no-index /deps/*.whl && rm -rf /deps
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --no-deps /wheels/*.whl && rm -rf /wheels
# The example configs, for `serve -f /etc/fastgw/configs/<name>.yaml` (the package holds them too).
COPY configs /etc/fastgw/configs
USER fastgw
# 3000: the demo's bind; 15020 /metrics; 15021 readiness (the admin port 15000 stays on loopback)
EXPOSE 3000 15020 15021
ENTRYPOINT ["fastgw"]
CMD ["demo", "--host", "0.0.0.0"]
