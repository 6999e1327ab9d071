{{/* Chart name, overridable. */}}
{{- define "apigw-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. A release named like the chart (the usual
`helm install apigw-operator ...`) gets plain "apigw-operator", not a doubled name.
*/}}
{{- define "apigw-operator.fullname" -}}
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

{{- define "apigw-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "apigw-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apigw-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "apigw-operator.labels" -}}
helm.sh/chart: {{ include "apigw-operator.chart" . }}
{{ include "apigw-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "apigw-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apigw-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "apigw-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The lease of the leader election. Fixed in the operator's code, so it is not a
value: two releases in one namespace share it (and so elect one leader between
them); install each release in its own namespace.
*/}}
{{- define "apigw-operator.leaseName" -}}
{{ .Values.leaderElection.leaseName }}
{{- end }}

{{/* Namespace of the leader Lease: its own value, else the release namespace. */}}
{{- define "apigw-operator.leaseNamespace" -}}
{{ .Values.leaderElection.namespace | default .Release.Namespace }}
{{- end }}

{{/*
Rules for the watched objects: exactly what src/controller uses (tests/helm.rs
holds the table and checks it). Shared by the ClusterRole and the namespaced Role.
*/}}
{{- define "apigw-operator.watchRules" -}}
# RestApi, Route, Authorizer, Stage, DomainName, UsagePlan, ApiKey, WebSocketApi: watched (list,
# watch), read (get), and patched for the operator's finalizer. The operator never
# writes spec.
- apiGroups: ["apigw.rs"]
  resources: ["restapis", "routes", "authorizers", "stages", "domainnames", "usageplans", "apikeys", "websocketapis"]
  verbs: ["get", "list", "watch", "patch"]
# Status is written with server-side apply (a PATCH of /status).
- apiGroups: ["apigw.rs"]
  resources: ["restapis/status", "routes/status", "authorizers/status", "stages/status", "domainnames/status", "usageplans/status", "apikeys/status", "websocketapis/status"]
  verbs: ["get", "patch"]
# Secrets, for ApiKeys: get reads the value of the Secret an ApiKey names; list
# and watch (metadata only) wake the ApiKey when that value changes; create and
# patch write a value AWS generated into the Secret the ApiKey owns. No update,
# no delete: the generated Secret goes with its ApiKey by garbage collection.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# kube-runtime's event Recorder creates events.k8s.io Events and patches a
# repeated one's series count.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
