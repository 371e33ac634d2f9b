{{/* The release's name for its objects: "kamaji" for a release named kamaji. */}}
{{- define "kamaji.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kamaji.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kamaji.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kamaji.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "kamaji.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kamaji.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kamaji.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kamaji.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kamaji.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) -}}
{{- end -}}

{{/* Names the manager's webhook flags and templates/webhooks.yaml share. */}}
{{- define "kamaji.webhookServiceName" -}}
{{- printf "%s-webhook-service" (include "kamaji.fullname" .) -}}
{{- end -}}
{{- define "kamaji.webhookSecretName" -}}
{{- printf "%s-webhook-certificate" (include "kamaji.fullname" .) -}}
{{- end -}}
{{/* Where cert-manager's serving certificate is mounted (webhooks.certManager.enabled). */}}
{{- define "kamaji.webhookCertDir" -}}
/var/run/kamaji/webhook-certificate
{{- end -}}
{{/* The webhook configurations' annotations: the user's, and cert-manager's CA injection when it makes the certificate. */}}
{{- define "kamaji.webhookAnnotations" -}}
{{- $annotations := deepCopy (default (dict) .Values.webhooks.annotations) -}}
{{- if .Values.webhooks.certManager.enabled -}}
{{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/%s" .Release.Namespace (include "kamaji.webhookSecretName" .)) -}}
{{- end -}}
{{- if $annotations }}{{ toYaml $annotations }}{{ end -}}
{{- end -}}
{{- define "kamaji.validatingWebhookConfigurationName" -}}
{{- printf "%s-validating-webhook-configuration" (include "kamaji.fullname" .) -}}
{{- end -}}
{{- define "kamaji.mutatingWebhookConfigurationName" -}}
{{- printf "%s-mutating-webhook-configuration" (include "kamaji.fullname" .) -}}
{{- end -}}

{{/* The Lease the replicas elect a leader on (src/manager/manager.ts). */}}
{{- define "kamaji.leaseName" -}}
kamaji-manager
{{- end -}}
