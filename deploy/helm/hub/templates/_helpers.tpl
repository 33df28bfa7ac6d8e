{{/* vim: set filetype=mustache: */}}

{{/* Chart name. */}}
{{- define "hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name. Kept to 52 characters so "<fullname>-headless" and the pod names
(<fullname>-<ordinal>, plus the controller-revision-hash label) stay within limits.
*/}}
{{- define "hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades, never add to them. */}}
{{- define "hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Common labels. */}}
{{- define "hub.labels" -}}
helm.sh/chart: {{ include "hub.chart" . }}
{{ include "hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hub
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hub.headlessName" -}}
{{- printf "%s-headless" (include "hub.fullname" .) -}}
{{- end -}}

{{/* DNS name of the headless service: every pod's address, ready or not. */}}
{{- define "hub.headlessFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "hub.headlessName" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* Join addresses: the headless service (port only when not the default), then extras. */}}
{{- define "hub.join" -}}
{{- $self := include "hub.headlessFQDN" . -}}
{{- if ne (int .Values.cluster.gossipPort) 7946 -}}
{{- $self = printf "%s:%d" $self (int .Values.cluster.gossipPort) -}}
{{- end -}}
{{- join "," (concat (list $self) .Values.cluster.extraJoin) -}}
{{- end -}}

{{- define "hub.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when the embedded NATS server runs in the pods. */}}
{{- define "hub.natsEmbedded" -}}
{{- if and (not .Values.nats.external.url) (not .Values.nats.external.urlSecret.name) -}}true{{- end -}}
{{- end -}}

{{/* Name of the Secret holding JWT secret / public key / API key. */}}
{{- define "hub.secretName" -}}
{{- default (include "hub.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The Secret holding the cluster secret and the NATS backend password. */}}
{{- define "hub.clusterSecretName" -}}
{{- default (printf "%s-cluster" (include "hub.fullname" .)) .Values.cluster.secret.existingSecret -}}
{{- end -}}

{{/* True when the chart creates its own Secret (something to put in it, no existingSecret). */}}
{{- define "hub.createSecret" -}}
{{- if and (not .Values.auth.existingSecret) (or .Values.auth.jwtSecret .Values.auth.jwtPublicKey .Values.auth.apiKey .Values.auth.adminToken) -}}true{{- end -}}
{{- end -}}

{{/* True when a JWT public key file is mounted. */}}
{{- define "hub.hasPublicKey" -}}
{{- if .Values.auth.existingSecret -}}
{{- if .Values.auth.existingSecretHasPublicKey -}}true{{- end -}}
{{- else if .Values.auth.jwtPublicKey -}}true{{- end -}}
{{- end -}}

{{/*
An HCL string literal. Go %q quoting matches HCL's escapes for printable text;
"${" and "%{" start HCL templates, so they are doubled to stay literal.
*/}}
{{- define "hub.hclString" -}}
{{- printf "%q" (toString .) | replace "${" "$${" | replace "%{" "%%{" -}}
{{- end -}}

{{/* An HCL list of strings. */}}
{{- define "hub.hclList" -}}
{{- $items := list -}}
{{- range . -}}
{{- $items = append $items (include "hub.hclString" .) -}}
{{- end -}}
[{{ join ", " $items }}]
{{- end -}}

{{/* Grace period: explicit, or preStop + shutdown timeout + 10s margin. */}}
{{- define "hub.terminationGracePeriodSeconds" -}}
{{- $need := add (int .Values.preStopSleepSeconds) (int .Values.hub.shutdownTimeoutSeconds) -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $need 10 -}}
{{- else -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than preStopSleepSeconds + hub.shutdownTimeoutSeconds (%d), or the kubelet kills the hub before its clients are drained" (int .Values.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Checks on combinations the schema cannot express. */}}
{{- define "hub.validate" -}}
{{- if and .Values.nats.external.url .Values.nats.external.urlSecret.name -}}
{{- fail "set either nats.external.url or nats.external.urlSecret, not both" -}}
{{- end -}}
{{- if and .Values.nats.external.urlSecret.name (not .Values.nats.external.urlSecret.key) -}}
{{- fail "nats.external.urlSecret.key is required with nats.external.urlSecret.name" -}}
{{- end -}}
{{- if and .Values.nats.external.credentialsSecret.name (not .Values.nats.external.credentialsSecret.key) -}}
{{- fail "nats.external.credentialsSecret.key is required with nats.external.credentialsSecret.name" -}}
{{- end -}}
{{- if and .Values.nats.external.credentialsSecret.name (include "hub.natsEmbedded" .) -}}
{{- fail "nats.external.credentialsSecret needs an external NATS (nats.external.url or urlSecret)" -}}
{{- end -}}
{{- if regexMatch "://[^/@]*@" .Values.nats.external.url -}}
{{- fail "nats.external.url holds credentials and would land in a ConfigMap: put the URL in a Secret and use nats.external.urlSecret" -}}
{{- end -}}
{{- if and .Values.metrics.port (eq (int .Values.metrics.port) (int .Values.websocket.port)) -}}
{{- fail "metrics.port must differ from websocket.port (leave it null to serve /metrics on the WebSocket port)" -}}
{{- end -}}
{{- if and .Values.tests.tokenSecret.name (not .Values.tests.tokenSecret.key) -}}
{{- fail "tests.tokenSecret.key is required with tests.tokenSecret.name" -}}
{{- end -}}
{{- if and .Values.history.enabled .Values.autoscaling.enabled -}}
{{- fail "history.enabled cannot go with autoscaling.enabled: JetStream peers follow the pod names and each keeps a volume; scale a history cluster by hand (README: History and recovery)" -}}
{{- end -}}
{{- if and .Values.history.enabled (gt (int .Values.history.replicas) (int .Values.replicaCount)) -}}
{{- fail (printf "history.replicas (%d) is more than replicaCount (%d): JetStream cannot place that many copies" (int .Values.history.replicas) (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (not .Values.history.enabled) (regexMatch "(?m)^\\s*history\\s*\\{" .Values.extraConfig) -}}
{{- fail "extraConfig has a history block: set history.enabled so that each pod gets its store volume" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- end -}}

{{/*
Bytes in a Kubernetes memory quantity ("512Mi", "1.5Gi", "500M", "536870912",
"129e6"), as an int64. Anything else fails the render.
*/}}
{{- define "hub.quantityBytes" -}}
{{- $q := toString . | trim -}}
{{- $m := regexFindAll "^([0-9]+(?:\\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|e[0-9]+)?$" $q 1 -}}
{{- if not $m -}}
{{- fail (printf "resources.limits.memory %q is not a memory quantity (e.g. 512Mi, 1Gi, 500M)" $q) -}}
{{- end -}}
{{- $num := regexReplaceAll "^([0-9.]+).*$" $q "${1}" -}}
{{- $unit := trimPrefix $num $q -}}
{{- $mult := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 "k" 1000.0 "K" 1000.0 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 -}}
{{- $factor := 1.0 -}}
{{- if hasPrefix "e" $unit -}}
{{- $factor = 1.0 -}}
{{- range until (int (trimPrefix "e" $unit)) }}{{ $factor = mulf $factor 10.0 }}{{ end -}}
{{- else -}}
{{- $factor = get $mult $unit -}}
{{- end -}}
{{- mulf (float64 $num) $factor | floor | int64 -}}
{{- end -}}

{{/*
GOMEMLIMIT for the hub container: 90 % of resources.limits.memory, in bytes,
so the Go collector works harder before the kernel's OOM killer steps in and
leaves 10 % for what the Go runtime does not count (stacks of the NATS
server's goroutines, kernel socket buffers charged to the cgroup). Empty
without a memory limit.
*/}}
{{- define "hub.goMemLimit" -}}
{{- with .Values.resources -}}
{{- with .limits -}}
{{- with .memory -}}
{{- $b := include "hub.quantityBytes" . | float64 -}}
{{- mulf $b 0.9 | floor | int64 -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
