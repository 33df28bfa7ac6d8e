#!/usr/bin/env bash
# Checks the hub Helm chart: helm lint and helm template for every value set in
# hub/ci/, then a Go test (chart_test/, its own module) that decodes every rendered
# manifest strictly into the Kubernetes API types and asserts the wiring.
#
# helm: $HELM, else helm (v3) on PATH, else $(go env GOPATH)/bin/helm-$HELM_VERSION-k<minor>,
# built on first use with `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`. The
# binary is keyed by version next to the module cache, so it survives fresh clones
# the way downloaded modules do (cache GOPATH in CI: GOMODCACHE and GOPATH/bin).
# Cold (nothing cached): downloads and compiles helm, minutes; a build cache
# without the binary: a link, seconds; the binary present: nothing.
#
# When a hub binary is at hand ($HUB_BIN, or bin/hub from `make build`) the test
# also runs `hub config check` on every rendered hub.hcl.
#
# Usage: bash deploy/helm/check.sh
set -euo pipefail

HELM_VERSION=v3.19.5
# The Kubernetes version helm's release binaries assume for `helm template` and
# `helm lint` (1.<minor of its k8s.io/client-go>, set by helm's Makefile with
# -ldflags; a plain `go install` would assume 1.20).
HELM_KUBE_MINOR=34

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
	command -v go >/dev/null 2>&1 || die "neither helm nor go found"
	local gobin
	gobin="$(go env GOPATH | cut -d: -f1)/bin"
	HELM="$gobin/helm-$HELM_VERSION-k$HELM_KUBE_MINOR"
	[[ -x "$HELM" ]] && return
	log "building helm $HELM_VERSION into $HELM (go install; minutes the first time, then cached)"
	local t0=$SECONDS tmp
	tmp=$(mktemp -d)
	local x=helm.sh/helm/v3
	(cd "$tmp" && GOWORK=off GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		go install -trimpath -ldflags "-s -w -X $x/internal/version.version=$HELM_VERSION \
			-X $x/pkg/chartutil.k8sVersionMajor=1 -X $x/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR \
			-X $x/pkg/lint/rules.k8sVersionMajor=1 -X $x/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR" \
			"$x/cmd/helm@$HELM_VERSION")
	mkdir -p "$gobin"
	mv "$tmp/helm" "$HELM.$$" && mv "$HELM.$$" "$HELM"
	rm -rf "$tmp"
	log "helm built in $((SECONDS - t0))s"
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
