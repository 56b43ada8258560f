//go:build linux

package testenv

import (
	"fmt"
	"strings"
)

// Address ranges of the real node. Both are reserved for benchmarking
// (RFC 2544) and route nowhere, so a packet that escaped would not reach
// any real host; the FORWARD guard rule keeps pod egress on the bridge
// anyway.
const (
	PodCIDR     = "198.18.0.0/16" // every pod address (kube-proxy's clusterCIDR)
	NodePodCIDR = "198.18.0.0/24" // the node's pods (node IPAM gives the first node this /24)
	ServiceCIDR = "198.19.0.0/16" // ClusterIPs
	// KubernetesServiceIP is the `kubernetes` Service's ClusterIP, the first of ServiceCIDR.
	KubernetesServiceIP = "198.19.0.1"
	podGateway          = "198.18.0.1"
	// BridgeName is the CNI bridge the pods hang off.
	BridgeName = "cni0"
)

// DefaultPauseImage is the sandbox image containerd starts for every pod
// when RealNodeOptions.Pause.Ref is empty.
const DefaultPauseImage = "registry.k8s.io/pause:3.10"

// containerdSocket is containerd's default address: cAdvisor only finds
// containerd there, and without it pod network statistics are missing.
const containerdSocket = "/run/containerd/containerd.sock"

// tomlString quotes s for TOML (a basic string).
func tomlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// containerdConfig is a containerd 1.6 configuration with its own folders,
// the default socket, and the CRI settings this machine needs:
// restrict_oom_score_adj because root here may not lower oom_score_adj,
// cgroupfs because the kubelet uses it.
func containerdConfig(root, state, opt, cniConfDir, sandboxImage string) string {
	return fmt.Sprintf(`version = 2
root = %s
state = %s
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %s

[plugins."io.containerd.internal.v1.opt"]
  path = %s

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %s
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %s
`, tomlString(root), tomlString(state), tomlString(containerdSocket), tomlString(opt),
		tomlString(sandboxImage), tomlString(cniConfDir))
}

// cniConfig is the pod network: a bridge with host-local addresses from
// the node's pod subnet, no masquerading (nothing may leave the machine),
// and portmap for hostPorts.
func cniConfig(ipamDataDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "sdep-real-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, BridgeName, NodePodCIDR, podGateway, ipamDataDir)
}

// kubeletConfig is the KubeletConfiguration. Beyond the settings the
// machine needs (cgroup v1 allowed, swap allowed, cgroupfs), it serves
// only authenticated requests, hands pods no resolver (there is no cluster
// DNS, and the host's resolver is not on this machine), and neither
// garbage-collects nor evicts for disk: imported images cannot be pulled
// again.
func kubeletConfig(nodeIP string, port, healthzPort int, caFile, podLogsDir string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
podLogsDir: %s
resolvConf: ""
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
serializeImagePulls: false
`, nodeIP, port, healthzPort, containerdSocket, caFile, podLogsDir)
}

// kubeProxyConfig is the KubeProxyConfiguration: iptables mode, and every
// setting that would change a host sysctl left alone (conntrack limits and
// timeouts, route_localnet for localhost NodePorts). The short
// minSyncPeriod removes a deleted pod's endpoint quickly, so a scale-down
// drains fast.
func kubeProxyConfig(kubeconfig, nodeName string, healthzPort, metricsPort int) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
  minSyncPeriod: 100ms
  syncPeriod: 30s
`, kubeconfig, PodCIDR, nodeName, healthzPort, metricsPort)
}

// metricsServerManifest is metrics-server as a pod in kube-system with the
// objects it needs: its ServiceAccount and RBAC, a Service, and the
// APIService that makes kube-apiserver route metrics.k8s.io to it.
func metricsServerManifest(image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata:
  name: metrics-server
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:metrics-server
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:metrics-server
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:metrics-server
subjects:
- kind: ServiceAccount
  name: metrics-server
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: metrics-server:system:auth-delegator
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:auth-delegator
subjects:
- kind: ServiceAccount
  name: metrics-server
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: metrics-server-auth-reader
  namespace: kube-system
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: extension-apiserver-authentication-reader
subjects:
- kind: ServiceAccount
  name: metrics-server
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:aggregated-metrics-reader
  labels:
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
  labels:
    k8s-app: metrics-server
spec:
  selector:
    k8s-app: metrics-server
  ports:
  - name: https
    port: 443
    protocol: TCP
    targetPort: https
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: metrics-server
  namespace: kube-system
  labels:
    k8s-app: metrics-server
spec:
  replicas: 1
  selector:
    matchLabels:
      k8s-app: metrics-server
  template:
    metadata:
      labels:
        k8s-app: metrics-server
    spec:
      serviceAccountName: metrics-server
      dnsPolicy: Default
      containers:
      - name: metrics-server
        image: %s
        imagePullPolicy: Never
        args:
        - --cert-dir=/tmp
        - --secure-port=10250
        - --kubelet-insecure-tls
        - --kubelet-use-node-status-port
        - --kubelet-preferred-address-types=InternalIP
        - --metric-resolution=15s
        ports:
        - name: https
          containerPort: 10250
          protocol: TCP
        resources:
          requests:
            cpu: 20m
            memory: 50Mi
        securityContext:
          runAsNonRoot: true
          runAsUser: 65534
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
        volumeMounts:
        - name: tmp
          mountPath: /tmp
      volumes:
      - name: tmp
        emptyDir: {}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service:
    name: metrics-server
    namespace: kube-system
`, image)
}
