package resources

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sdep-dev/sdep/internal/servers"
)

// Storage initializer names and paths (as upstream's).
const (
	// PVCSourceVolume holds a pvc:// modelUri's claim.
	PVCSourceVolume = "kfserving-pvc-source"
	PVCMountPath    = "/mnt/pvc"
	pvcScheme       = "pvc://"
	maxDNSLabel     = 63
)

// modelSource is what one storage initializer fetches, and how.
type modelSource struct {
	uri    string
	image  string // the node's storageInitializerImage
	secret string // envFrom secret, "" for none
}

func envSecret(node string, opts Options) string {
	if node != "" {
		return node
	}
	return opts.DefaultEnvSecretRefName
}

// fitLabel cuts name to 63 characters and trims the dashes the cut leaves
// at its end, as upstream names init containers and volumes.
func fitLabel(name string) string {
	if len(name) > maxDNSLabel {
		name = name[:maxDNSLabel]
	}
	return strings.TrimRight(name, "-")
}

// StorageInitializerName is the init container that fills target's model directory.
func StorageInitializerName(target string) string { return fitLabel(target + "-model-initializer") }

// ModelVolumeName is the emptyDir the initializer and target share.
func ModelVolumeName(target string) string { return fitLabel(target + "-provision-location") }

// injectStorageInitializer adds to pod an init container that copies
// src.uri into an emptyDir mounted read-only at ModelMountPath in the
// container named target. A pvc:// uri also mounts the claim at
// PVCMountPath in both. If the init container exists (two TF proxies
// sharing one sidecar) only target's mount is ensured.
func injectStorageInitializer(pod *corev1.PodSpec, target string, src modelSource, si servers.StorageInitializer, opts Options) {
	k := containerIndex(pod, target)
	if k < 0 {
		return
	}
	vol := ModelVolumeName(target)
	name := StorageInitializerName(target)
	addMount(&pod.Containers[k], corev1.VolumeMount{Name: vol, MountPath: ModelMountPath, ReadOnly: true})
	for _, ic := range pod.InitContainers {
		if ic.Name == name {
			return
		}
	}
	addVolume(pod, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})

	from := src.uri
	init := corev1.Container{
		Name:                     name,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		VolumeMounts:             []corev1.VolumeMount{{Name: vol, MountPath: ModelMountPath}},
		Resources:                initializerResources(si),
	}
	if claim, path, ok := strings.Cut(strings.TrimPrefix(src.uri, pvcScheme), "/"); strings.HasPrefix(src.uri, pvcScheme) {
		if !ok {
			path = ""
		}
		volName, mountPath := pvcVolumeFor(pod, claim)
		addVolume(pod, corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: true}}})
		pvcMount := corev1.VolumeMount{Name: volName, MountPath: mountPath, ReadOnly: true}
		init.VolumeMounts = append(init.VolumeMounts, pvcMount)
		addMount(&pod.Containers[k], pvcMount)
		from = mountPath + "/" + path
	}
	init.Args = []string{from, ModelMountPath}
	switch {
	case src.image != "":
		init.Image = src.image
	case si.Kind == servers.InitializerSdep:
		init.Image = si.Image
		if init.Image == "" {
			init.Image = opts.ExecutorImage
		}
		init.Command = []string{"sdep", "storage-initializer"}
	default:
		init.Image = si.Image
	}
	if src.secret != "" {
		init.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: src.secret}}}}
	}
	pod.InitContainers = append(pod.InitContainers, init)
}

// initializerResources are the table's requests and limits; a value that
// does not parse (servers.Config.Check refuses it) is left out.
func initializerResources(si servers.StorageInitializer) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, f := range []struct {
		list corev1.ResourceList
		name corev1.ResourceName
		v    string
	}{
		{r.Requests, corev1.ResourceCPU, si.CPURequest}, {r.Requests, corev1.ResourceMemory, si.MemoryRequest},
		{r.Limits, corev1.ResourceCPU, si.CPULimit}, {r.Limits, corev1.ResourceMemory, si.MemoryLimit},
	} {
		if q, err := resource.ParseQuantity(f.v); err == nil && f.v != "" {
			f.list[f.name] = q
		}
	}
	if lim, ok := r.Limits[corev1.ResourceCPU]; ok && r.Requests.Cpu().IsZero() {
		r.Requests[corev1.ResourceCPU] = lim.DeepCopy()
	}
	if _, ok := r.Requests[corev1.ResourceCPU]; !ok {
		// Every container of a pod needs a cpu request for a cpu HPA
		// (upstream #3827).
		r.Requests[corev1.ResourceCPU] = DefaultServerCPURequest.DeepCopy()
	}
	if len(r.Limits) == 0 {
		r.Limits = nil
	}
	return r
}

func addMount(c *corev1.Container, m corev1.VolumeMount) {
	if !hasVolumeMount(c, m.Name) {
		c.VolumeMounts = append(c.VolumeMounts, m)
	}
}

// pvcVolumeFor names the volume and mount path of claim in pod. The first
// claim gets upstream's PVCSourceVolume at PVCMountPath; another claim in
// the same pod gets a volume and path of its own (upstream gave every claim
// the one volume name, so a second model was read from the first claim).
func pvcVolumeFor(pod *corev1.PodSpec, claim string) (string, string) {
	name, path := PVCSourceVolume, PVCMountPath
	for _, v := range pod.Volumes {
		if v.Name == PVCSourceVolume && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName != claim {
			return fitLabel(PVCSourceVolume + "-" + claim), PVCMountPath + "-" + claim
		}
	}
	return name, path
}

func addVolume(pod *corev1.PodSpec, v corev1.Volume) {
	for _, have := range pod.Volumes {
		if have.Name == v.Name {
			return
		}
	}
	pod.Volumes = append(pod.Volumes, v)
}
