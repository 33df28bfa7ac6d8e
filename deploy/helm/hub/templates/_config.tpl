{{/*
hub.hcl, rendered from values. Pod-specific settings (node name, gossip
advertise address) and secrets (JWT secret, API key, NATS URL with credentials)
come from the environment, never from this file.
*/}}
{{- define "hub.config" -}}
# hub.hcl rendered by the {{ include "hub.chart" . }} chart for release {{ .Release.Name }}.
# node.name comes from HUB_NODE_NAME (the pod name); secrets from HUB_JWT_SECRET / HUB_API_KEY.

node {
  log_level        = {{ include "hub.hclString" .Values.hub.logLevel }}
  log_format       = {{ include "hub.hclString" .Values.hub.logFormat }}
  shutdown_timeout = "{{ int .Values.hub.shutdownTimeoutSeconds }}s"
  client_publish   = {{ .Values.hub.clientPublish }}
  client_direct    = {{ .Values.hub.clientDirect }}
{{- if .Values.history.enabled }}
  data_dir         = "/var/lib/hub"   # the pod's volume: JetStream's store
{{- end }}
}

connector "ws" {
  type                   = "websocket"
  host                   = "0.0.0.0"
  port                   = {{ int .Values.websocket.port }}
  path                   = {{ include "hub.hclString" .Values.websocket.path }}
  ping_interval          = {{ include "hub.hclString" .Values.websocket.pingInterval }}
  pong_timeout           = {{ include "hub.hclString" .Values.websocket.pongTimeout }}
  allowed_origins        = {{ include "hub.hclList" .Values.websocket.allowedOrigins }}
  # limits (0 = no limit)
  max_connections          = {{ int .Values.websocket.maxConnections }}
  max_connections_per_ip   = {{ int .Values.websocket.maxConnectionsPerIP }}
  max_frame_bytes          = {{ int .Values.websocket.maxFrameBytes }}
  max_rooms_per_connection = {{ int .Values.websocket.maxRoomsPerConnection }}
  max_messages_per_second  = {{ .Values.websocket.maxMessagesPerSecond }}
  message_burst            = {{ int .Values.websocket.messageBurst }}
}

connector "bus" {
  type           = "nats"
{{- if .Values.nats.external.url }}
  url            = {{ include "hub.hclString" .Values.nats.external.url }}
{{- else if .Values.nats.external.urlSecret.name }}
  # url comes from HUB_NATS_URL (Secret {{ .Values.nats.external.urlSecret.name }})
{{- else }}
  # embedded NATS server; the pods' servers form one NATS cluster from the gossip members
  listen         = "0.0.0.0:{{ int .Values.nats.embedded.clientPort }}"
  cluster_listen = "0.0.0.0:{{ int .Values.nats.embedded.clusterPort }}"
{{- end }}
  subject_prefix = {{ include "hub.hclString" .Values.nats.subjectPrefix }}
{{- if .Values.nats.external.credentialsSecret.name }}
  credentials    = "/etc/hub/nats/nats.creds"
{{- end }}
}

auth {
  jwt_leeway          = {{ include "hub.hclString" .Values.auth.jwtLeeway }}
{{- if include "hub.hasPublicKey" . }}
  jwt_public_key_file = "/etc/hub/jwt/public.pem"
{{- end }}
}

cluster {
  bind            = "0.0.0.0:{{ int .Values.cluster.gossipPort }}"
  join            = {{ include "hub.hclList" (splitList "," (include "hub.join" .)) }}
  rejoin_interval = {{ include "hub.hclString" .Values.cluster.rejoinInterval }}
  failure_grace   = {{ include "hub.hclString" .Values.cluster.failureGrace }}
{{- if .Values.history.enabled }}
  bootstrap_expect = {{ int .Values.replicaCount }}   # first boot: JetStream starts once every pod is in
{{- end }}
{{- if .Values.cluster.insecure }}
  insecure        = true   # no cluster secret: gossip in clear text, routes open
{{- else }}
  secret_file     = "/etc/hub/cluster/secret"
{{- end }}
}
{{- if .Values.metrics.port }}

metrics {
  listen = "0.0.0.0:{{ int .Values.metrics.port }}"
}
{{- end }}
{{- range $name, $flow := .Values.flows }}

flow {{ include "hub.hclString" $name }} {
{{- range $side := list "from" "to" }}
{{- with (index $flow $side) }}
  {{ $side }} {
    connector = {{ include "hub.hclString" .connector }}
{{- if .operation }}
    operation = {{ include "hub.hclString" .operation }}
{{- end }}
{{- if .target }}
    target    = {{ include "hub.hclString" .target }}
{{- end }}
  }
{{- end }}
{{- end }}
}
{{- end }}
{{- with .Values.extraConfig }}

# extraConfig
{{ . }}
{{- end }}
{{ end -}}
