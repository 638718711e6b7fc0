#!/usr/bin/env bash
# Fetch MathJax 3 from the npm registry (once) and copy it into _offline/, which the offline
# build (scripts/book_config.py --offline) serves from the book's _static/, so the built HTML
# renders its maths with no internet. Used by `bash scripts/build_book.sh --offline` and by
# scripts/run_tests.sh (the browser tests block every non-local request).
# Needs Node.js's npm; as root on Debian it installs npm with apt-get when it is missing.
# The download is kept: _offline/.complete records the version (a new version refetches), and a
# copy in ~/.cache/minigen-offline/ serves other clones on this machine (CI's fresh clones).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=_offline
version=mathjax@3.2.2
cache="${XDG_CACHE_HOME:-$HOME/.cache}/minigen-offline/$version"
if [ "$(cat "$dest/.complete" 2>/dev/null)" = "$version" ]; then
  echo "==> offline assets ($version) already in $dest"
  exit 0
fi
if [ "$(cat "$cache/.complete" 2>/dev/null)" = "$version" ]; then
  rm -rf "$dest" && cp -r "$cache" "$dest"
  echo "==> offline assets ($version) copied from $cache"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing npm (Node.js) with apt-get, to fetch MathJax once"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: the offline build needs npm (Node.js) to fetch MathJax once; install Node.js," >&2
  echo "       or build without --offline (the HTML then loads MathJax from its CDN)." >&2
  exit 1
fi
echo "==> fetching $version from npm"
rm -rf .offline-assets && mkdir -p .offline-assets
npm install --silent --no-audit --no-fund --no-package-lock --prefix .offline-assets "$version" >/dev/null
rm -rf "$dest" && mkdir -p "$dest"
# es5/: tex-chtml.js, the TeX extensions it loads on demand (ams, ...) and the CHTML fonts.
cp -r .offline-assets/node_modules/mathjax/es5 "$dest/mathjax"
rm -rf .offline-assets
echo "$version" > "$dest/.complete"
if mkdir -p "$(dirname "$cache")" 2>/dev/null; then  # best effort: no cache is no error
  rm -rf "$cache.tmp" && cp -r "$dest" "$cache.tmp" && rm -rf "$cache" && mv "$cache.tmp" "$cache" || true
fi
echo "==> offline assets ready in $dest ($(du -sh "$dest" | cut -f1))"
