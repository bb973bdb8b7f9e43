# Dynoxide, a DynamoDB emulator on SQLite (MIT OR Apache-2.0), for the Docker Compose stack.
FROM rust:1-slim-bookworm AS build
RUN cargo install dynoxide-rs --locked --version 3.2.0 --no-default-features --features native-sqlite,http-server,cli

FROM debian:bookworm-slim
COPY --from=build /usr/local/cargo/bin/dynoxide /usr/local/bin/dynoxide
EXPOSE 8000
CMD ["dynoxide", "serve", "--host", "0.0.0.0", "--port", "8000"]
