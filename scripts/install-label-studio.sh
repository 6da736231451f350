#!/usr/bin/env bash
# Installs what the Label Studio bridge's integration test (tests/integration/test_label_studio.py)
# needs, idempotently, never into the repository:
#   label-studio   from PyPI into a venv under ${XDG_CACHE_HOME:-$HOME/.cache}/labelgate/label-studio
#                  (its own venv: Label Studio pins Django and friends, which must not meet ours)
#   playwright-core  from npm into .../labelgate/playwright, to drive that Chromium (no browser
#                  download: it only speaks the DevTools protocol to the Debian package)
#   chromium       the Debian package, for the headless check that a task page shows the
#                  pre-annotation (apt-get; sudo only when not root); optional: a failure only warns
#                  and the browser check is skipped
# Safe without a terminal (CI=true, no stdin). Prints the venv's label-studio executable last.
set -euo pipefail

LABEL_STUDIO_VERSION="${LABEL_STUDIO_VERSION:-1.23.2}"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
PY="${PY:-$(command -v python3.11 || command -v python3)}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/labelgate"
VENV="${LABEL_STUDIO_VENV:-$CACHE/label-studio}"
# Label Studio 1.23.2 pins ranges, not versions, of some of its dependencies: sentry-sdk 3.0
# (2026-12) dropped an option it passes at start-up (`Unknown option 'send_default_pii'`), so the
# server exits. The constraints keep what it was released against; they name the stamp, so a venv
# built without them is rebuilt.
LABEL_STUDIO_CONSTRAINTS="sentry-sdk<3"
STAMP="$VENV/.installed-$LABEL_STUDIO_VERSION-$(printf '%s' "$LABEL_STUDIO_CONSTRAINTS" | cksum | cut -d' ' -f1)"

log() { printf 'install-label-studio: %s\n' "$*" >&2; }

if [ -f "$STAMP" ] && [ -x "$VENV/bin/label-studio" ]; then
    log "label-studio $LABEL_STUDIO_VERSION present in $VENV"
else
    log "installing label-studio $LABEL_STUDIO_VERSION into $VENV (a few minutes on 2 cores)"
    # A half-built venv from an interrupted run is rebuilt, not trusted.
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        "label-studio==$LABEL_STUDIO_VERSION" $LABEL_STUDIO_CONSTRAINTS
    touch "$STAMP"
fi

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    log "chromium present"
elif command -v apt-get >/dev/null; then
    log "installing chromium (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { sudo_if_needed apt-get update -qq </dev/null \
        && sudo_if_needed apt-get install -y -qq --no-install-recommends chromium </dev/null; }; then
        log "WARNING: chromium could not be installed; the browser check will be skipped"
    fi
else
    log "WARNING: no apt-get; install chromium yourself for the browser check"
fi

PLAYWRIGHT_DIR="$CACHE/playwright"
if [ -f "$PLAYWRIGHT_DIR/node_modules/playwright-core/package.json" ] \
    && grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$PLAYWRIGHT_DIR/node_modules/playwright-core/package.json"; then
    log "playwright-core $PLAYWRIGHT_VERSION present"
elif command -v npm >/dev/null; then
    log "installing playwright-core $PLAYWRIGHT_VERSION (npm) into $PLAYWRIGHT_DIR"
    mkdir -p "$PLAYWRIGHT_DIR"
    if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
        --prefix "$PLAYWRIGHT_DIR" "playwright-core@$PLAYWRIGHT_VERSION" </dev/null >&2; then
        log "WARNING: playwright-core could not be installed; the browser check will fail"
    fi
else
    log "WARNING: no npm; install Node.js for the browser check"
fi

echo "$VENV/bin/label-studio"
