#!/usr/bin/env bash
# Fetch MathJax 3, RequireJS and the Jupyter widgets HTML manager from the npm registry (once)
# and copy what the book needs into _static/offline/, so the built HTML renders with no internet.
# Needs Node.js's npm. Used by `bash scripts/build_book.sh --offline`.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=_offline
if [ -f "$dest/.complete" ]; then
  echo "==> offline assets already in $dest"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: the offline build needs npm (Node.js) to fetch MathJax once; install Node.js," >&2
  echo "       or build without --offline (the HTML then loads MathJax from its CDN)." >&2
  exit 1
fi
echo "==> fetching MathJax, RequireJS and @jupyter-widgets/html-manager from npm"
mkdir -p .offline-assets
npm install --silent --no-audit --no-fund --prefix .offline-assets \
  mathjax@3.2.2 requirejs@2.3.7 @jupyter-widgets/html-manager@1.0.6 >/dev/null
nm=.offline-assets/node_modules
rm -rf "$dest" && mkdir -p "$dest/requirejs" "$dest/html-manager"
cp -r "$nm/mathjax/es5" "$dest/mathjax"
cp "$nm/requirejs/require.js" "$dest/requirejs/require.min.js"
cp -r "$nm/@jupyter-widgets/html-manager/dist/." "$dest/html-manager/"
touch "$dest/.complete"
echo "==> offline assets ready in $dest ($(du -sh "$dest" | cut -f1))"
