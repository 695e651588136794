{{- define "conduix.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "conduix.fullname" -}}
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

{{- define "conduix.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "conduix.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* selector labels of one component: include "conduix.selector" (list . "control") */}}
{{- define "conduix.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "conduix.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "conduix.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "conduix.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "conduix.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* the Secret with admin-password and agent-token-0, -1, ...: the user's, or the chart's */}}
{{- define "conduix.authSecret" -}}
{{- default (include "conduix.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "conduix.controlUrl" -}}
{{- printf "http://%s-control:%v" (include "conduix.fullname" .) .Values.control.service.port }}
{{- end }}

{{/* env entry reading one key of a Secret: include "conduix.secretEnv" (list NAME SECRET KEY) */}}
{{- define "conduix.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: {{ index . 2 }}
{{- end }}

{{/* CONDUIX_REDIS_URL from the user's Secret or the chart's; nothing when redis.enabled is false */}}
{{- define "conduix.redisEnv" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.existingSecret -}}
{{- include "conduix.secretEnv" (list "CONDUIX_REDIS_URL" .Values.redis.existingSecret .Values.redis.existingSecretKey) -}}
{{- else -}}
{{- include "conduix.secretEnv" (list "CONDUIX_REDIS_URL" (include "conduix.fullname" .) "redis-url") -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* agent i's name, which is its agent id: include "conduix.agentName" (list . i) */}}
{{- define "conduix.agentName" -}}
{{- printf "%s-agent-%d" (include "conduix.fullname" (index . 0)) (index . 1) }}
{{- end }}
