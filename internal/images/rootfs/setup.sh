#!/bin/sh
# Runs inside the new root filesystem (chroot or Dockerfile RUN), after the
# packages are installed. Only directory and config fix-ups that every node
# needs; no network access.
set -eu

# Note: mmdebstrap empties /run at the end, and nothing recreates its
# directories in a container: roles keep sockets and pid files elsewhere.

# The Debian package already ran initdb for cluster 15/main at install time:
# the data directory is baked into the image, so Postgres is ready in well
# under a second. Check it, so a changed package cannot silently undo that.
test -f /var/lib/postgresql/15/main/PG_VERSION

# scalelab's own files (pg_hba, node configs) are layered on later in /etc/scalelab.
install -d -m 0755 /etc/scalelab
