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

{{/* "ax0n.componentName" (dict "root" $ "name" "router") -> {fullname}-router; with "pool" P (one executor pool
per served model) -> {fullname}-executor-P */}}
{{- define "ax0n.componentName" -}}
{{- $name := ternary (printf "%s-%s" .name (.pool | default "")) .name (not (empty .pool)) -}}
{{- printf "%s-%s" (include "ax0n.fullname" .root) $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Kubernetes name of a served model's pool: its id in lower case, [._] as "-" */}}
{{- define "ax0n.poolName" -}}
{{- .id | lower | replace "." "-" | replace "_" "-" | trunc 40 | trimSuffix "-" -}}
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
{{- with .pool }}
ax0n.io/pool: {{ . }}
{{- end }}
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

{{/* The Redis roles and their ACL rules: files/redis-acl.yaml, written from ax0n/mempool/acl.py (the one rule
source) by `python -m ax0n_tools.chart_acl`; the chart tests fail when it drifts. */}}
{{- define "ax0n.redis.acl" -}}
{{- .Files.Get "files/redis-acl.yaml" -}}
{{- end -}}

{{/* Secret (keys username, password) of a role's own Redis user: (dict "root" $ "role" "router"). The chart's Redis:
one Secret per role, generated; an external Redis: externalRedis.userSecrets.<role>. Empty: none, the service
connects with the shared password above. */}}
{{- define "ax0n.redis.userSecret" -}}
{{- if .root.Values.redis.enabled -}}
{{- printf "%s-%s" (include "ax0n.componentName" (dict "root" .root "name" "redis")) .role -}}
{{- else -}}
{{- index (.root.Values.externalRedis.userSecrets | default dict) .role | default "" -}}
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
{{- $user := include "ax0n.redis.userSecret" (dict "root" $root "role" .name) -}}
{{- $secret := include "ax0n.redis.secretName" $root -}}
{{- $scheme := include "ax0n.redis.scheme" $root -}}
{{- $address := printf "%s:%s/%s" (include "ax0n.redis.host" $root) (include "ax0n.redis.port" $root) (include "ax0n.redis.database" $root) -}}
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
{{- if $user }}
# the service's own least-privilege Redis user (ax0n/mempool/acl.py)
- name: AX0N_REDIS_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ $user }}, key: username}
- name: AX0N_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $user }}, key: password}
- name: AX0N_REDIS_URL
  value: {{ printf "%s://$(AX0N_REDIS_USERNAME):$(AX0N_REDIS_PASSWORD)@%s" $scheme $address | quote }}
{{- else if $secret }}
- name: AX0N_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "ax0n.redis.secretKey" $root }}
- name: AX0N_REDIS_URL
  value: {{ printf "%s://:$(AX0N_REDIS_PASSWORD)@%s" $scheme $address | quote }}
{{- else }}
- name: AX0N_REDIS_URL
  value: {{ printf "%s://%s" $scheme $address | quote }}
{{- end }}
- name: AX0N_HEALTH_PORT
  value: {{ $root.Values.probes.healthPort | quote }}
{{- if $root.Values.grpcTLS.enabled }}
- name: AX0N_TLS_CERT_FILE
  value: {{ include "ax0n.tls.dir" . }}/tls.crt
- name: AX0N_TLS_KEY_FILE
  value: {{ include "ax0n.tls.dir" . }}/tls.key
- name: AX0N_TLS_CA_FILE
  value: {{ include "ax0n.tls.dir" . }}/ca.crt
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

{{/* gRPC health probes on the plaintext health port (the kubelet's gRPC probe speaks no TLS): it serves only
grpc.health.v1, the same health service the TLS port serves. */}}
{{- define "ax0n.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  grpc: {port: {{ $p.healthPort }}}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
readinessProbe:
  grpc: {port: {{ $p.healthPort }}}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
livenessProbe:
  grpc: {port: {{ $p.healthPort }}}
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
- name: health
  containerPort: {{ .root.Values.probes.healthPort }}
  protocol: TCP
{{- end -}}

{{/*
gRPC TLS (grpcTLS): each service's certificate Secret (tls.crt, tls.key, ca.crt), mounted read-only where
AX0N_TLS_* point. (dict "root" $ "name" "router")
*/}}
{{- define "ax0n.tls.dir" -}}/etc/ax0n/tls{{- end -}}

{{- define "ax0n.tls.secretName" -}}
{{- $key := ternary (printf "%s-%s" .name (.pool | default "")) .name (not (empty .pool)) -}}
{{- index .root.Values.grpcTLS.existingSecrets $key | default (printf "%s-tls" (include "ax0n.componentName" .)) -}}
{{- end -}}

{{- define "ax0n.tls.mount" -}}
{{- if .root.Values.grpcTLS.enabled }}
- {name: grpc-tls, mountPath: {{ include "ax0n.tls.dir" . }}, readOnly: true}
{{- end }}
{{- end -}}

{{- define "ax0n.tls.volume" -}}
{{- if .root.Values.grpcTLS.enabled }}
- name: grpc-tls
  secret: {secretName: {{ include "ax0n.tls.secretName" . }}, defaultMode: 0440}
{{- end }}
{{- end -}}

{{/* DNS names a service's certificate names: its Service, and for the validator every pod of its headless one. */}}
{{- define "ax0n.tls.dnsNames" -}}
{{- $name := include "ax0n.componentName" . -}}
{{- $ns := .root.Release.Namespace -}}
{{- $names := list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.cluster.local" $name $ns) -}}
{{- if eq .name "validator" -}}
{{- $names = concat $names (list (printf "*.%s-headless.%s.svc" $name $ns) (printf "*.%s-headless.%s.svc.cluster.local" $name $ns)) -}}
{{- end -}}
{{- toJson $names -}}
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
{{- $ctx := dict "root" $root "name" .name "pool" .pool -}}
{{- $a := .values.autoscaling -}}
{{- $kind := include "ax0n.autoscaler" (dict "root" $root "values" .values) -}}
{{- $stats := include "ax0n.redis.userSecret" (dict "root" $root "role" "stats") -}}
{{- $secret := include "ax0n.redis.secretName" $root -}}
{{- if eq $kind "keda" }}
{{- if or $stats $secret }}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ include "ax0n.componentName" $ctx }}-redis
  labels:
    {{- include "ax0n.labels" $ctx | nindent 4 }}
spec:
  secretTargetRef:
    {{- if $stats }}
    # the stats user: the backlog of the scaled streams (XINFO GROUPS, XPENDING, XLEN), no entry, no write
    - {parameter: username, name: {{ $stats }}, key: username}
    - {parameter: password, name: {{ $stats }}, key: password}
    {{- else }}
    - parameter: password
      name: {{ $secret }}
      key: {{ include "ax0n.redis.secretKey" $root }}
    {{- end }}
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
      {{- if or $stats $secret }}
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

{{/* A ClusterIP Service for an internal ax0n service: (dict "root" $ "name" N "port" P ["pool" pool]) */}}
{{- define "ax0n.service" -}}
{{- $ctx := dict "root" .root "name" .name "pool" .pool -}}
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

{{/*
A served model's weights: (dict "root" $ "model" <models[] entry> "volume" NAME). The volume is mounted read-only
at /var/lib/ax0n/models/<pool>; weights.pvc mounts the claim (subPath) there, weights.url an emptyDir into which
the fetch init container unpacks the archive as <mount>/model. "ax0n.weights.dir" is the model directory.
*/}}
{{- define "ax0n.weights.mountPath" -}}/var/lib/ax0n/models/{{ include "ax0n.poolName" .model }}{{- end -}}
{{- define "ax0n.weights.dir" -}}
{{- include "ax0n.weights.mountPath" . }}{{ if .model.weights.url }}/model{{ end -}}
{{- end -}}
{{- define "ax0n.weights.volume" -}}
- name: {{ .volume }}
{{- if .model.weights.url }}
  emptyDir: {}
{{- else }}
  persistentVolumeClaim: {claimName: {{ .model.weights.pvc.claimName }}, readOnly: true}
{{- end }}
{{- end -}}
{{- define "ax0n.weights.mount" -}}
- name: {{ .volume }}
  mountPath: {{ include "ax0n.weights.mountPath" . }}
  readOnly: true
{{- with (and (not .model.weights.url) .model.weights.pvc.subPath) }}
  subPath: {{ . }}
{{- end }}
{{- end -}}
{{- define "ax0n.weights.fetch" -}}
{{- if .model.weights.url }}
- name: fetch-{{ .volume }}
  image: {{ include "ax0n.image" (dict "root" .root "image" .root.Values.executor.image) }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: [fetch-model, {{ .model.weights.url | quote }}, {{ include "ax0n.weights.dir" . | quote }}, --commitment, {{ .model.commitment | quote }}]
  resources:
    requests: {cpu: 100m, memory: 256Mi}
    limits: {memory: 1Gi}
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - {name: tmp, mountPath: /tmp}
    - {name: {{ .volume }}, mountPath: {{ include "ax0n.weights.mountPath" . }}}
{{- end }}
{{- end -}}

{{/* "true" when the validators' re-executor pool renders: served models, and the validators' caller keys to sign
their Reexecute calls with; else empty */}}
{{- define "ax0n.reexecutor.enabled" -}}
{{- $r := .Values.validator.reexecutor -}}
{{- if and .Values.validator.enabled $r.enabled .Values.models $r.callerKeys.existingSecret }}true{{ end -}}
{{- end -}}
