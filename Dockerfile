# apigw-operator container image.
#   docker build --build-arg GIT_REVISION=$(git rev-parse --short=12 HEAD) -t apigw-operator:dev .
# Two stages: a Rust toolchain builds a release binary (dependencies cached in
# their own layer), and a distroless, non-root runtime holds only that binary.
FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused while only the operator's code changes.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && APIGW_GIT_REVISION=deps cargo build --release --locked \
 && rm -rf src
COPY src src
ARG GIT_REVISION=unknown
# Reproducible: the revision comes from the build argument, not from a .git the
# context does not contain, and no timestamp is embedded.
ENV APIGW_GIT_REVISION=${GIT_REVISION}
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
 && ./target/release/apigw-operator --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/apigw-operator /usr/local/bin/apigw-operator
# distroless "nonroot": uid/gid 65532, no shell, no package manager.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/apigw-operator"]
CMD ["run"]
