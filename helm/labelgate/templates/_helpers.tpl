{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "labelgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, or the release name when it contains the chart's. */}}
{{- define "labelgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "labelgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "labelgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "labelgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "labelgate.labels" -}}
helm.sh/chart: {{ include "labelgate.chart" . }}
{{ include "labelgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: daemon
app.kubernetes.io/part-of: labelgate
{{- end }}

{{- define "labelgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "labelgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "labelgate.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Where the config file is mounted; the Dockerfile's CMD names the same path. */}}
{{- define "labelgate.configDir" -}}/etc/labelgate{{- end }}
{{- define "labelgate.configPath" -}}{{ include "labelgate.configDir" . }}/config.yaml{{- end }}

{{/* The ops server's port: config.server.port, default 8080. */}}
{{- define "labelgate.port" -}}
{{- $server := .Values.config.server | default dict }}
{{- $server.port | default 8080 | int }}
{{- end }}

{{/* The state volume's mount path: config.state_dir when set, else persistence.mountPath. */}}
{{- define "labelgate.stateDir" -}}
{{- .Values.config.state_dir | default .Values.persistence.mountPath }}
{{- end }}

{{/* "true" when a librdkafka property holds a secret, else empty: the daemon's own rule
(daemon.config.is_secret_property): it names a password, secret, token, credential or JAAS /
OAuth config, or a key other than a path to one (.location, .keytab). */}}
{{- define "labelgate.isSecretProperty" -}}
{{- $p := lower . }}
{{- $secret := false }}
{{- range list "password" "secret" "token" "credential" "jaas" "oauthbearer.config" }}
{{- if contains . $p }}{{ $secret = true }}{{ end }}
{{- end }}
{{- if and (contains "key" $p) (not (hasSuffix ".location" $p)) (not (hasSuffix ".keytab" $p)) }}
{{- $secret = true }}
{{- end }}
{{- if $secret }}true{{ end }}
{{- end }}

{{/* The daemon's config file: .Values.config plus the fields the chart owns. */}}
{{- define "labelgate.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $kafka := $cfg.kafka | default dict }}
{{- if or $kafka.sasl_password $kafka.ssl_key_password }}
{{- fail "config.kafka.sasl_password / ssl_key_password must not be inlined: put them in a Secret and set kafkaSecret.name" }}
{{- end }}
{{- range $prop, $_ := ($kafka.extra | default dict) }}
{{- if include "labelgate.isSecretProperty" $prop }}
{{- fail (printf "config.kafka.extra.%s looks like a secret and must not be inlined: put it in a Secret and map it with kafkaSecret.extra" $prop) }}
{{- end }}
{{- end }}
{{- if and .Values.kafkaSecret.extra (not .Values.kafkaSecret.name) }}
{{- fail "kafkaSecret.extra maps properties from a Secret: set kafkaSecret.name" }}
{{- end }}
{{- if $cfg.redaction_salt }}
{{- fail "config.redaction_salt must not be inlined: put it in a Secret and set redactionSaltSecret.name" }}
{{- end }}
{{- $server := $cfg.server | default dict }}
{{- $_ := set $server "port" (include "labelgate.port" . | int) }}
{{- $_ := set $server "host" ($server.host | default "0.0.0.0") }}
{{- $_ := set $cfg "server" $server }}
{{- $_ := set $cfg "state_dir" (include "labelgate.stateDir" .) }}
{{- toYaml $cfg }}
{{- end }}

{{/* The replica ceiling for autoscalers: the partition count, so no replica idles. */}}
{{- define "labelgate.maxReplicas" -}}
{{- $scaler := index . 0 }}
{{- $max := index . 1 }}
{{- if not $scaler.partitions }}
{{- fail "set the autoscaler's `partitions` to the predictions topic's partition count (keda.partitions / hpa.partitions)" }}
{{- end }}
{{- min (int $max) (int $scaler.partitions) }}
{{- end }}

{{/* PromQL label matchers that select this release's series. */}}
{{- define "labelgate.alertSelector" -}}
{{- if .Values.prometheusRule.selector }}
{{- .Values.prometheusRule.selector }}
{{- else }}
{{- printf "job=%q,namespace=%q" (include "labelgate.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Labels a per-replica aggregation keeps. */}}
{{- define "labelgate.byReplica" -}}namespace, job, pod, instance{{- end }}

{{/* One alerting rule: dict root, name, key (in .Values.alerts), expr, summary, description. */}}
{{- define "labelgate.alert" -}}
{{- $root := .root }}
{{- $cfg := index $root.Values.alerts .key -}}
- alert: {{ .name }}
  expr: |-
{{ .expr | trim | indent 4 }}
  {{- if $cfg.for }}
  for: {{ $cfg.for }}
  {{- end }}
  labels:
    severity: {{ $cfg.severity | default "warning" }}
    {{- with $root.Values.prometheusRule.additionalAlertLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    summary: {{ .summary | quote }}
    description: {{ .description | quote }}
    runbook_url: {{ printf "%s%s" $root.Values.prometheusRule.runbookBaseUrl (lower .name) | quote }}
{{- end }}

{{/* A bridge's selector labels (list root queue): its own name, so the daemon's selectors never
match bridge pods. */}}
{{- define "labelgate.bridgeSelectorLabels" -}}
{{- $root := index . 0 }}
app.kubernetes.io/name: {{ printf "%s-bridge" (include "labelgate.name" $root) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
labelgate.io/queue: {{ index . 1 | quote }}
{{- end }}

{{- define "labelgate.bridgeLabels" -}}
{{- $root := index . 0 }}
helm.sh/chart: {{ include "labelgate.chart" $root }}
{{ include "labelgate.bridgeSelectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/component: bridge
app.kubernetes.io/part-of: labelgate
{{- end }}
