#!/usr/bin/env bash
# Vendor the dashboard's chart library into the package: uPlot (MIT), pinned, from the npm
# registry, with its licence. The result is committed (api/static/vendor/uplot/), so neither the
# build nor the browser ever needs the network; rerun this only to change the pinned version.
#
#   bash scripts/vendor_assets.sh            # fetch, check, copy
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION=1.6.32
# npm's dist.integrity for uplot@1.6.32: the tarball must be the one we reviewed.
UPLOT_INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==
dest=api/static/vendor/uplot

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
( cd "$work" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null )
tarball="$work/uplot-$UPLOT_VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$UPLOT_INTEGRITY" ]; then
  echo "vendor_assets: uplot-$UPLOT_VERSION.tgz integrity $got != $UPLOT_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/uPlot.esm.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dest/"
printf 'uplot %s from the npm registry (%s)\n' "$UPLOT_VERSION" "$UPLOT_INTEGRITY" > "$dest/VERSION"
echo "vendor_assets: uplot $UPLOT_VERSION -> $dest" >&2
