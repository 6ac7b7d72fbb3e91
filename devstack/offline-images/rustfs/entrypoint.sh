#!/bin/sh
# `docker run rustfs/rustfs /data` and `... rustfs --address :9000 /data` both work upstream.
set -e
case "${1:-}" in
  "" ) set -- rustfs ;;
  /* | -*) set -- rustfs "$@" ;;
esac
exec "$@"
