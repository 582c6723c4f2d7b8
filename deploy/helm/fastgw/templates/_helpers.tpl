{{/* Names and labels shared by every object. */}}
{{- define "fastgw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fastgw.instanceLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The gateway pods (the Redis pods have component: redis, so no gateway selector picks them). */}}
{{- define "fastgw.selectorLabels" -}}
{{ include "fastgw.instanceLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "fastgw.commonLabels" -}}
{{ include "fastgw.instanceLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "fastgw.labels" -}}
{{ include "fastgw.commonLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "fastgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fastgw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fastgw.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* fastgw `config:` settings: the chart's (the probes' ports, the drain the grace period covers) win. */}}
{{- define "fastgw.processConfig" -}}
{{- $chart := dict "readinessAddr" "0.0.0.0:15021" "statsAddr" (printf "0.0.0.0:%d" (int .Values.service.metricsPort)) "http" (dict "drainTimeout" (printf "%ds" (int .Values.drainTimeoutSeconds))) -}}
{{- toYaml (merge $chart (deepCopy (.Values.processConfig | default dict))) -}}
{{- end -}}

{{- define "fastgw.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}
