{{/* Names */}}
{{- define "ax0n.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ax0n.fullname" -}}
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

{{/* "ax0n.component" (dict "root" $ "name" "router") -> {fullname}-router */}}
{{- define "ax0n.componentName" -}}
{{- printf "%s-%s" (include "ax0n.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ax0n.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ax0n.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels: (dict "root" $ "name" component) */}}
{{- define "ax0n.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ax0n.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "ax0n.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "ax0n.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: ax0n
{{- end -}}

{{/* Image of an ax0n service: (dict "root" $ "image" .Values.router.image) */}}
{{- define "ax0n.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Redis connection */}}
{{- define "ax0n.redis.host" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s.%s.svc" (include "ax0n.componentName" (dict "root" . "name" "redis")) .Release.Namespace -}}
{{- else -}}
{{- required "externalRedis.host is required when redis.enabled is false" .Values.externalRedis.host -}}
{{- end -}}
{{- end -}}

{{- define "ax0n.redis.port" -}}
{{- if .Values.redis.enabled }}6379{{ else }}{{ .Values.externalRedis.port }}{{ end -}}
{{- end -}}

{{- define "ax0n.redis.database" -}}
{{- if .Values.redis.enabled }}0{{ else }}{{ .Values.externalRedis.database }}{{ end -}}
{{- end -}}

{{/* "true" when the services use an operator's Redis Cluster (externalRedis.cluster) */}}
{{- define "ax0n.redis.cluster" -}}
{{- and (not .Values.redis.enabled) .Values.externalRedis.cluster -}}
{{- end -}}

{{/* The mempool URL's scheme (ax0n.mempool.connect): redis, rediss, redis-cluster or rediss-cluster */}}
{{- define "ax0n.redis.scheme" -}}
{{- ternary "rediss" "redis" (eq (include "ax0n.redis.tls" .) "true") -}}
{{- if eq (include "ax0n.redis.cluster" .) "true" }}-cluster{{ end -}}
{{- end -}}

{{- define "ax0n.redis.tls" -}}
{{- and (not .Values.redis.enabled) .Values.externalRedis.tls -}}
{{- end -}}

{{/* Secret and key holding the Redis password (empty name: no password). */}}
{{- define "ax0n.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- default (include "ax0n.componentName" (dict "root" . "name" "redis")) .Values.redis.auth.existingSecret -}}
{{- else if .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecret -}}
{{- else if .Values.externalRedis.password -}}
{{- include "ax0n.componentName" (dict "root" . "name" "redis") -}}
{{- end -}}
{{- end -}}

{{- define "ax0n.redis.secretKey" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.existingSecret }}{{ .Values.redis.auth.existingSecretKey }}{{ else }}password{{ end -}}
{{- else -}}
{{- if .Values.externalRedis.existingSecret }}{{ .Values.externalRedis.existingSecretKey }}{{ else }}password{{ end -}}
{{- end -}}
{{- end -}}

{{- define "ax0n.otlpEndpoint" -}}
{{- if .Values.otel.enabled -}}
{{- printf "http://%s.%s.svc:4317" (include "ax0n.componentName" (dict "root" . "name" "otel-collector")) .Release.Namespace -}}
{{- else -}}
{{- .Values.otel.externalEndpoint -}}
{{- end -}}
{{- end -}}

{{/* Environment of an ax0n container: (dict "root" $ "name" "router" "port" 50051 "values" .Values.router) */}}
{{- define "ax0n.env" -}}
{{- $root := .root -}}
{{- $secret := include "ax0n.redis.secretName" $root -}}
{{- $scheme := include "ax0n.redis.scheme" $root -}}
- name: AX0N_HOST
  value: "0.0.0.0"
- name: AX0N_GRPC_PORT
  value: {{ .port | quote }}
- name: AX0N_METRICS_PORT
  value: {{ $root.Values.metricsPort | default 9090 | quote }}
- name: AX0N_INSTANCE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if $secret }}
- name: AX0N_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "ax0n.redis.secretKey" $root }}
- name: AX0N_REDIS_URL
  value: {{ printf "%s://:$(AX0N_REDIS_PASSWORD)@%s:%s/%s" $scheme (include "ax0n.redis.host" $root) (include "ax0n.redis.port" $root) (include "ax0n.redis.database" $root) | quote }}
{{- else }}
- name: AX0N_REDIS_URL
  value: {{ printf "%s://%s:%s/%s" $scheme (include "ax0n.redis.host" $root) (include "ax0n.redis.port" $root) (include "ax0n.redis.database" $root) | quote }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ax0n.envFrom" -}}
- configMapRef:
    name: {{ include "ax0n.fullname" .root }}-env
{{- with .root.Values.envFromSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{/* gRPC health probes on the service port. */}}
{{- define "ax0n.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  grpc: {port: {{ .port }}}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
readinessProbe:
  grpc: {port: {{ .port }}}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
livenessProbe:
  grpc: {port: {{ .port }}}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
{{- end -}}

{{/* Container ports of an ax0n service. */}}
{{- define "ax0n.ports" -}}
- name: grpc
  containerPort: {{ .port }}
  protocol: TCP
- name: metrics
  containerPort: {{ .root.Values.metricsPort | default 9090 }}
  protocol: TCP
{{- end -}}

{{/* Pod-level fields shared by the ax0n services: (dict "root" $ "values" .Values.router ["serviceAccount" name]) */}}
{{- define "ax0n.podCommon" -}}
serviceAccountName: {{ .serviceAccount | default (include "ax0n.serviceAccountName" .root) }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod template annotations: config checksum (restart on change) plus the user's. */}}
{{- define "ax0n.podAnnotations" -}}
checksum/env: {{ include (print .root.Template.BasePath "/configmap-env.yaml") .root | sha256sum }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* KEDA or HPA for a component: returns "keda", "hpa" or "none". */}}
{{- define "ax0n.autoscaler" -}}
{{- $mode := .values.autoscaling.mode -}}
{{- if eq $mode "auto" -}}
{{- ternary "keda" "hpa" (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1/ScaledObject") -}}
{{- else -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{/* Stream and consumer-group names: must equal ax0n/mempool/streams.py (the chart tests compare). */}}
{{- define "ax0n.stream.requests" -}}{{ printf "ax0n:req:{%s}" . }}{{- end -}}
{{- define "ax0n.stream.executed" -}}{{ include "ax0n.shardStreams" (dict "root" . "stream" "ax0n:exec") }}{{- end -}}
{{- define "ax0n.group.executors" -}}executors{{- end -}}
{{- define "ax0n.group.provers" -}}provers{{- end -}}

{{/*
Autoscaler for a stream-consuming Deployment:
(dict "root" $ "name" "executor" "values" .Values.executor "stream" S "group" G)
KEDA ScaledObject (redis-streams: group lag and pending entries) or, without KEDA, a CPU HPA.
*/}}
{{- define "ax0n.streamAutoscaler" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "name" .name -}}
{{- $a := .values.autoscaling -}}
{{- $kind := include "ax0n.autoscaler" (dict "root" $root "values" .values) -}}
{{- $secret := include "ax0n.redis.secretName" $root -}}
{{- if eq $kind "keda" }}
{{- if $secret }}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ include "ax0n.componentName" $ctx }}-redis
  labels:
    {{- include "ax0n.labels" $ctx | nindent 4 }}
spec:
  secretTargetRef:
    - parameter: password
      name: {{ $secret }}
      key: {{ include "ax0n.redis.secretKey" $root }}
{{- end }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "ax0n.componentName" $ctx }}
  labels:
    {{- include "ax0n.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "ax0n.componentName" $ctx }}
  pollingInterval: {{ $a.keda.pollingInterval }}
  cooldownPeriod: {{ $a.keda.cooldownPeriod }}
  minReplicaCount: {{ $a.minReplicas }}
  maxReplicaCount: {{ $a.maxReplicas }}
  triggers:
    {{- $cluster := include "ax0n.redis.cluster" $root | eq "true" }}
    {{- $streams := splitList "," $.stream }}
    {{- range $i, $stream := $streams }}
    {{- range $metric := list "lagCount" "pendingEntriesCount" }}
    - type: {{ ternary "redis-cluster-streams" "redis-streams" $cluster }}
      name: {{ $metric | kebabcase }}{{ if gt (len $streams) 1 }}-{{ $i }}{{ end }}
      metadata:
        {{- if $cluster }}
        addresses: {{ printf "%s:%s" (include "ax0n.redis.host" $root) (include "ax0n.redis.port" $root) | quote }}
        {{- else }}
        address: {{ printf "%s:%s" (include "ax0n.redis.host" $root) (include "ax0n.redis.port" $root) | quote }}
        databaseIndex: {{ include "ax0n.redis.database" $root | quote }}
        {{- end }}
        enableTLS: {{ include "ax0n.redis.tls" $root | quote }}
        stream: {{ $stream | quote }}
        consumerGroup: {{ $.group | quote }}
        {{ $metric }}: {{ index $a.keda $metric | quote }}
      {{- if $secret }}
      authenticationRef:
        name: {{ include "ax0n.componentName" $ctx }}-redis
      {{- end }}
    {{- end }}
    {{- end }}
{{- else if eq $kind "hpa" }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ax0n.componentName" $ctx }}
  labels:
    {{- include "ax0n.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "ax0n.componentName" $ctx }}
  minReplicas: {{ max 1 $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ $a.hpa.targetCPUUtilizationPercentage }}}
{{- end }}
{{- end -}}

{{/* A ClusterIP Service for an internal ax0n service: (dict "root" $ "name" N "port" P) */}}
{{- define "ax0n.service" -}}
{{- $ctx := dict "root" .root "name" .name -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ax0n.componentName" $ctx }}
  labels:
    {{- include "ax0n.labels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "ax0n.selectorLabels" $ctx | nindent 4 }}
  ports:
    - {name: grpc, port: {{ .port }}, targetPort: grpc, protocol: TCP, appProtocol: grpc}
    - {name: metrics, port: {{ .root.Values.metricsPort }}, targetPort: metrics, protocol: TCP}
{{- end -}}

{{/* Every validator pod's gRPC address (the settler asks each for its batch-committee signature):
(dict "root" $ "name" "<release>-ax0n-validator") */}}
{{- define "ax0n.validatorTargets" -}}
{{- $root := .root -}}
{{- $targets := list -}}
{{- range $i := until (int $root.Values.validator.replicas) -}}
{{- $targets = append $targets (printf "%s-%d.%s-headless.%s.svc:%v" $.name $i $.name $root.Release.Namespace $root.Values.validator.port) -}}
{{- end -}}
{{- join "," $targets -}}
{{- end -}}

{{/*
The deployment manifest, for the router and the validators (which read the registry from the chain with it and
AX0N_RPC_URL): its env entry, volume mount and volume. Include them only when deployment.configMap is set.
*/}}
{{- define "ax0n.deployment.dir" -}}/etc/ax0n/deployment{{- end -}}

{{- define "ax0n.deployment.env" -}}
- name: AX0N_DEPLOYMENT
  value: {{ printf "%s/%s" (include "ax0n.deployment.dir" .) .Values.deployment.key | quote }}
{{- end -}}

{{- define "ax0n.deployment.mount" -}}
- {name: deployment, mountPath: {{ include "ax0n.deployment.dir" . }}, readOnly: true}
{{- end -}}

{{- define "ax0n.deployment.volume" -}}
- name: deployment
  configMap:
    name: {{ .Values.deployment.configMap }}
    items:
      - {key: {{ .Values.deployment.key | quote }}, path: {{ .Values.deployment.key | quote }}}
{{- end -}}
