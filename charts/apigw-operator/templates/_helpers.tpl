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
The namespaces the operator watches, comma-separated; empty means all of them.
watchNamespace is the one-namespace shorthand of watchNamespaces, so setting
both is refused rather than guessing which one wins. Every template that
depends on the watched namespaces (RBAC, the Deployment's flags, NOTES) goes
through here, so the check runs whatever is rendered.
*/}}
{{- define "apigw-operator.watchedNamespaces" -}}
{{- if and .Values.watchNamespace .Values.watchNamespaces }}
{{- fail (printf "set watchNamespace (one namespace) or watchNamespaces (a list), not both: got watchNamespace=%s and watchNamespaces=%s; for several namespaces put them all in watchNamespaces" .Values.watchNamespace (join "," .Values.watchNamespaces)) }}
{{- end }}
{{- if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- .Values.watchNamespace }}
{{- end }}
{{- end }}

{{/*
Name of the ClusterRole (and its binding). Watching all namespaces it is the
full name, as before. Watching some namespaces it holds only the cluster-scoped
reads, and tenants typically install one release per team, each in its own
namespace and often under the same release name: the release namespace in the
name keeps their cluster-wide objects apart.
*/}}
{{- define "apigw-operator.clusterRoleName" -}}
{{- if include "apigw-operator.watchedNamespaces" . }}
{{- printf "%s-%s" (include "apigw-operator.fullname" .) .Release.Namespace }}
{{- else }}
{{- include "apigw-operator.fullname" . }}
{{- end }}
{{- end }}

{{/*
Rules for cluster-scoped objects, needed in every mode (a Role cannot grant
them): AwsAccountBindings (cluster-scoped, apigw.rs) say which AWS account and
role serve which namespaces; the operator watches them and writes their status.
Namespaces are read because a binding selects them by label. tests/helm.rs holds
the table and checks it.
*/}}
{{- define "apigw-operator.clusterRules" -}}
# AwsAccountBindings: watched (list, watch) and read (get). The operator never
# writes their spec.
- apiGroups: ["apigw.rs"]
  resources: ["awsaccountbindings"]
  verbs: ["get", "list", "watch"]
# Their status: which namespaces a binding serves, whether its role could be assumed.
- apiGroups: ["apigw.rs"]
  resources: ["awsaccountbindings/status"]
  verbs: ["patch", "update"]
# Namespaces, for the label selectors of bindings. Read only.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
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
# ConfigMaps, for RestApis built from an OpenAPI document: get reads the
# document a RestApi names; list and watch (metadata only) wake it when the
# ConfigMap changes. Never written.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
# kube-runtime's event Recorder creates events.k8s.io Events and patches a
# repeated one's series count.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
