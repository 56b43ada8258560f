{{/* The prefix of every object's name. */}}
{{- define "sdep.fullname" -}}
{{- if contains "sdep" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-sdep" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sdep.selectorLabels" -}}
app.kubernetes.io/name: sdep
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "sdep.labels" -}}
{{ include "sdep.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sdep.image" -}}
{{- if .Values.image -}}{{ .Values.image }}{{- else -}}sdep:{{ .Chart.AppVersion }}{{- end -}}
{{- end -}}

{{- define "sdep.serviceAccount" -}}{{ include "sdep.fullname" . }}-operator{{- end -}}
{{- define "sdep.webhookService" -}}{{ include "sdep.fullname" . }}-webhook-service{{- end -}}
{{- define "sdep.webhookSecret" -}}{{ include "sdep.fullname" . }}-webhook-server-cert{{- end -}}
{{- define "sdep.webhookConfig" -}}{{ include "sdep.fullname" . }}-validating-webhook-configuration{{- end -}}
{{- define "sdep.certificate" -}}{{ include "sdep.fullname" . }}-serving-cert{{- end -}}

{{- define "sdep.checkValues" -}}
{{- if not (has .Values.webhook.certMode (list "self" "certManager")) -}}
{{- fail (printf "webhook.certMode=%q: use self (the operator issues its own certificate) or certManager" .Values.webhook.certMode) -}}
{{- end -}}
{{- end -}}

{{- define "sdep.metricsApiSelectorLabels" -}}
app.kubernetes.io/name: sdep
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics-api
{{- end -}}

{{- define "sdep.metricsApiLabels" -}}
{{ include "sdep.metricsApiSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
