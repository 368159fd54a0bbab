#!/usr/bin/env bash
# Reproduce the dashboard's vendored hls.js from the npm registry and check it.
#   scripts/vendor-hlsjs.sh          fetch, check the sha256s below, copy into the package
#   scripts/vendor-hlsjs.sh --check  fetch and compare with the committed files only
# Needs npm (only to fetch the tarball: nothing is installed or run). To upgrade: change
# VERSION, run with UPDATE=1, review the new sums and commit them with the files.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.7.4
FILE=dist/hls.light.min.mjs
SHA_FILE=3d82a88cf9ae0d9aaab3cbe9ff6ecbb64bb89c54a399c34ae9bf8b559baeb20f
SHA_LICENSE=ca8773cf798c7ed997d4dd7c8e23c348699f8d5b7462636694cc14de6cda12db
DEST=src/camera_service/dashboard/static/vendor

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "hls.js@$VERSION" >/dev/null && tar xzf "hls.js-$VERSION.tgz")
got_file=$(sha256sum "$work/package/$FILE" | cut -d' ' -f1)
got_license=$(sha256sum "$work/package/LICENSE" | cut -d' ' -f1)
if [ "${UPDATE:-0}" = 1 ]; then
  echo "SHA_FILE=$got_file"
  echo "SHA_LICENSE=$got_license"
  exit 0
fi
[ "$got_file" = "$SHA_FILE" ] || { echo "hls.js $FILE: sha256 $got_file, expected $SHA_FILE" >&2; exit 1; }
[ "$got_license" = "$SHA_LICENSE" ] || { echo "hls.js LICENSE: sha256 $got_license, expected $SHA_LICENSE" >&2; exit 1; }
if [ "${1:-}" = --check ]; then
  cmp "$work/package/$FILE" "$DEST/hls.light.min.mjs"
  cmp "$work/package/LICENSE" "$DEST/hls.js-LICENSE.txt"
  echo "vendored hls.js $VERSION matches the registry"
  exit 0
fi
cp "$work/package/$FILE" "$DEST/hls.light.min.mjs"
cp "$work/package/LICENSE" "$DEST/hls.js-LICENSE.txt"
echo "vendored hls.js $VERSION ($FILE) into $DEST"
