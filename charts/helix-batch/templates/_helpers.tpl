{{/* Labels of every object: Helm's own, part-of (as manifests/base adds it) and commonLabels. */}}
{{- define "helix-batch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: helix-batch
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "helix-batch.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "helix-batch.sparkImage" -}}
{{ .Values.sparkImage.repository }}:{{ .Values.sparkImage.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The namespaces the operator serves. */}}
{{- define "helix-batch.watchNamespaces" -}}
{{- toJson (.Values.watchNamespaces | default (list .Release.Namespace)) }}
{{- end }}

{{/*
A ConfigMap's name with the suffix kustomize's configMapGenerator gives it (api/hasher: sha256
of the JSON of kind, data and name, whose lookup of metadata/name always yields ""; the first
10 hex digits with 0 1 3 a e spelt g h k m t). The same name in both renders, and a new one
whenever the data changes, which rolls the pods that mount it. Argument: list name data.
*/}}
{{- define "helix-batch.hashedName" -}}
{{- $hex := dict "data" (index . 1) "kind" "ConfigMap" "name" "" | toJson | sha256sum | trunc 10 -}}
{{- printf "%s-%s" (index . 0) ($hex | replace "0" "g" | replace "1" "h" | replace "3" "k" | replace "a" "m" | replace "e" "t") -}}
{{- end }}

{{/* The restricted Pod Security Standard, and a read-only root. */}}
{{- define "helix-batch.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "helix-batch.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end }}
