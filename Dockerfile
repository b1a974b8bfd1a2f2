# Image for Dream API on Fly.io: the dream binary, LiteFS and its config.
# docs/DEPLOY.md explains how it is deployed.

# Build stage. mattn/go-sqlite3 compiles SQLite from C, so the build needs cgo
# and a C compiler; the full golang Debian image ships gcc and libc headers.
FROM golang:1.26-bookworm AS build

WORKDIR /src

# Fetch modules in their own layer, so a source change does not download
# them again.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /usr/local/bin/dream ./cmd/dream

# LiteFS comes from its official release image rather than a `go install` in
# the build stage: that binary is built by the LiteFS project, statically
# linked and stamped with its version, so it runs unchanged on Debian and adds
# no second module graph or cgo build here. Keep the tag equal to the LiteFS
# version the cluster test runs (v0.5.14).
FROM flyio/litefs:0.5.14 AS litefs

# Runtime stage. The same Debian release as the build stage, so dream links
# against the glibc it was built with.
FROM debian:bookworm-slim

# fuse3: LiteFS mounts its file system through FUSE.
# ca-certificates: TLS to Consul, Clerk and Stripe.
# sqlite3: to inspect the database over `fly ssh console`.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates fuse3 sqlite3 \
	&& rm -rf /var/lib/apt/lists/*

COPY --from=litefs /usr/local/bin/litefs /usr/local/bin/litefs
COPY --from=build /usr/local/bin/dream /usr/local/bin/dream

# litefs mount reads /etc/litefs.yml, mounts /litefs, joins the cluster and
# then starts `dream serve` (its exec). Both run as root: mounting FUSE needs
# it, and LiteFS's documentation advises against USER here.
COPY litefs.yml /etc/litefs.yml

EXPOSE 8080

ENTRYPOINT ["litefs", "mount"]
