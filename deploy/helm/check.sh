#!/usr/bin/env bash
# Checks the hub Helm chart: helm lint and helm template for every value set in
# hub/ci/, then a Go test (chart_test/, its own module) that decodes every rendered
# manifest strictly into the Kubernetes API types and asserts the wiring.
#
# helm: $HELM, else helm on PATH (v3), else <repo>/bin/helm, installed on first
# use with `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION` (a few minutes once).
#
# When a hub binary is at hand ($HUB_BIN, or bin/hub from `make build`) the test
# also runs `hub config check` on every rendered hub.hcl.
#
# Usage: bash deploy/helm/check.sh
set -euo pipefail

HELM_VERSION=v3.19.5

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
chart="$here/hub"
start=$SECONDS

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'check.sh: %s\n' "$*" >&2; exit 1; }

is_helm3() { "$1" version --template '{{.Version}}' 2>/dev/null | grep -q '^v3\.'; }

find_helm() {
	if [[ -n "${HELM:-}" ]]; then
		[[ -x "$HELM" ]] || die "HELM=$HELM is not executable"
		return
	fi
	if command -v helm >/dev/null 2>&1 && is_helm3 "$(command -v helm)"; then
		HELM=$(command -v helm)
		return
	fi
	HELM="$repo/bin/helm"
	local stamp="$repo/bin/.helm-version"
	if [[ -x "$HELM" && "$(cat "$stamp" 2>/dev/null)" == "$HELM_VERSION" ]]; then
		return
	fi
	command -v go >/dev/null 2>&1 || die "neither helm nor go found"
	log "installing helm $HELM_VERSION into $repo/bin (go install; takes a few minutes the first time)"
	local t0=$SECONDS
	mkdir -p "$repo/bin"
	(cd "$repo/bin" && GOWORK=off GOBIN="$repo/bin" GOFLAGS=-buildvcs=false \
		go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
	echo "$HELM_VERSION" >"$stamp"
	log "helm installed in $((SECONDS - t0))s"
}

find_helm
export HELM
log "helm: $HELM ($("$HELM" version --template '{{.Version}}'))"

# Keep helm away from the user's helm config, cache and repositories.
helm_home=$(mktemp -d)
trap 'rm -rf "$helm_home"' EXIT
export HELM_CACHE_HOME="$helm_home/cache" HELM_CONFIG_HOME="$helm_home/config" HELM_DATA_HOME="$helm_home/data"

shopt -s nullglob
value_sets=("$chart"/ci/*-values.yaml)
((${#value_sets[@]} > 0)) || die "no value sets in $chart/ci"

for vs in "${value_sets[@]}"; do
	name=$(basename "$vs" -values.yaml)
	log "lint + template: $name"
	"$HELM" lint --strict --quiet "$chart" -f "$vs" --namespace hubns >/dev/null ||
		{ "$HELM" lint --strict "$chart" -f "$vs"; die "helm lint failed for $name"; }
	"$HELM" template hub "$chart" -f "$vs" --namespace hubns >/dev/null ||
		die "helm template failed for $name"
done

if [[ -n "${HUB_BIN:-}" || -x "$repo/bin/hub" ]]; then
	log "rendered hub.hcl files are also checked with: ${HUB_BIN:-$repo/bin/hub} config check"
fi
log "strict decode into the Kubernetes types + wiring assertions (go test)"
(cd "$here/chart_test" && GOWORK=off go test -count=1 ./...)

log "chart checks passed in $((SECONDS - start))s"
