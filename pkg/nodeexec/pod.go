package nodeexec

import (
	"fmt"
	"math"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

const (
	podNamePrefix = "cadvisor-doctor-"
	// maxPodName keeps names usable as a hostname label.
	maxPodName     = 63
	socketVolume   = "containerd-socket-dir"
	terminationLog = "/dev/termination-log"
)

// PodName is the name of the run's pod on node.
func PodName(node, suffix string) string {
	room := maxPodName - len(podNamePrefix) - len(suffix) - 1
	n := strings.ToLower(node)
	if len(n) > room {
		n = n[:room]
	}
	n = strings.TrimRight(n, "-.")
	return podNamePrefix + n + "-" + suffix
}

// PodFor builds the probe pod for one node. It is a pure function of the
// node name and the options (the name suffix comes from o.NameSuffix).
//
// Why each setting: nodeName bypasses the scheduler (works on cordoned and
// NotReady nodes); a toleration with operator Exists tolerates every taint,
// NoExecute included; hostPID lets the probe see containerd's and the
// shims' processes; hostNetwork needs no CNI (a node whose CNI is broken
// still gets checked); privileged and root are needed to connect to the
// socket; socket directories, not the files, are mounted (socketMounts),
// because a file mount pins the old inode after containerd restarts; no
// service-account token, since the probe never talks to the API.
func PodFor(node string, o Options) *corev1.Pod {
	suffix := o.NameSuffix
	if suffix == nil {
		suffix = func() string { return utilrand.String(5) }
	}
	return podFor(node, PodName(node, suffix()), o)
}

// socketMounts are the host directories the probe needs, read-only: the
// directory of the kubelet's socket (o.Socket), and the one of the socket
// cAdvisor dials, /run/containerd, which the probe checks too (issue 8).
// When the two differ, /run/containerd itself may not exist (a k3s node),
// and a hostPath of type Directory would then fail the pod's mount and
// hide the very finding: /run is mounted instead, where the probe sees
// whether /run/containerd/containerd.sock is there. DirectoryOrCreate
// would create it on the node, and the tool is read-only. With no known
// socket (o.Socket empty: the kubelet's endpoint could not be read) /run
// is mounted too, and the probe discovers the socket under it. A
// directory inside another mounted one is not mounted twice. The pod is
// privileged with hostPID, so mounting /run read-only gives it no access
// it did not have (/proc/1/root); the narrow mounts keep its view small.
func socketMounts(socket string) []string {
	cadvisorDir := path.Dir(checks.DefaultCadvisorSocket)
	if socket == "" {
		return []string{path.Dir(cadvisorDir)}
	}
	dir := path.Dir(socket)
	if dir == cadvisorDir {
		return []string{dir}
	}
	run := path.Dir(cadvisorDir)
	if dir == run || strings.HasPrefix(dir, run+"/") {
		return []string{run}
	}
	return []string{dir, run}
}

func podFor(node, name string, o Options) *corev1.Pod {
	args := []string{"probe", "--host-root", HostRoot}
	if o.Socket != "" {
		args = append(args, "--socket", o.Socket)
	}
	args = append(args,
		"-o", "json",
		"--termination-message-path", terminationLog,
		"--timeout", o.probeTimeout().String(),
		"--node-name", "$(NODE_NAME)",
	)
	if o.CallTimeout > 0 {
		args = append(args, "--call-timeout", o.CallTimeout.String())
	}
	if o.Slow > 0 {
		args = append(args, "--slow", o.Slow.String())
	}
	var mounts []corev1.VolumeMount
	var volumes []corev1.Volume
	for i, dir := range socketMounts(o.Socket) {
		name := socketVolume
		if i > 0 {
			name = fmt.Sprintf("%s-%d", socketVolume, i+1)
		}
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path.Join(HostRoot, dir), ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: dir, Type: ptr.To(corev1.HostPathDirectory),
		}}})
	}
	var secrets []corev1.LocalObjectReference
	for _, s := range o.ImagePullSecrets {
		secrets = append(secrets, corev1.LocalObjectReference{Name: s})
	}
	// activeDeadlineSeconds is the kubelet's backstop should we die before
	// cleaning up: the pod cannot outlive the node budget by much.
	deadline := int64(math.Ceil(o.NodeTimeout.Seconds())) + 30
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: o.Namespace,
			Labels:    map[string]string{ManagedByLabel: ManagedByValue, RunIDLabel: o.RunID},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			HostPID:                       true,
			HostNetwork:                   true,
			DNSPolicy:                     corev1.DNSDefault,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: ptr.To(int64(DefaultGracePeriod.Seconds())),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			PriorityClassName:             o.PriorityClassName,
			ImagePullSecrets:              secrets,
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           o.Image,
				ImagePullPolicy: o.ImagePullPolicy,
				Command:         []string{ProbeBinary},
				Args:            args,
				Env: []corev1.EnvVar{{
					Name:      "NODE_NAME",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
				}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("32Mi"),
					},
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts:             mounts,
				TerminationMessagePath:   terminationLog,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext: &corev1.SecurityContext{
					Privileged:             ptr.To(true),
					RunAsUser:              ptr.To(int64(0)),
					ReadOnlyRootFilesystem: ptr.To(true),
				},
			}},
			Volumes: volumes,
		},
	}
}
