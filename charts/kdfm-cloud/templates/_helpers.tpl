{{- define "kdfm-cloud.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kdfm-cloud.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kdfm-cloud.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kdfm
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kdfm-cloud.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Secret the operator writes with the cloud's broker password (see kdfm_operator). */}}
{{- define "kdfm-cloud.brokerCloudSecret" -}}
{{- printf "%s-mosquitto-cloud" .Values.broker.name -}}
{{- end -}}
