package nodeexec

import (
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
// socket; the socket's directory, not the file, is mounted, because a file
// mount pins the old inode after containerd restarts; no service-account
// token, since the probe never talks to the API.
func PodFor(node string, o Options) *corev1.Pod {
	suffix := o.NameSuffix
	if suffix == nil {
		suffix = func() string { return utilrand.String(5) }
	}
	dir := path.Dir(o.Socket)
	args := []string{
		"probe",
		"--host-root", HostRoot,
		"--socket", o.Socket,
		"-o", "json",
		"--termination-message-path", terminationLog,
		"--timeout", o.probeTimeout().String(),
		"--node-name", "$(NODE_NAME)",
	}
	// The probe also looks at the socket cAdvisor dials
	// (/run/containerd/containerd.sock) when it is not the kubelet's. The pod
	// mounts only the kubelet's socket directory, so on a node whose kubelet
	// uses another socket the probe would see cAdvisor's as missing without
	// having looked: turn that check off there until the pod mounts both
	// directories (issue 8).
	if dir != path.Dir(checks.DefaultCadvisorSocket) {
		args = append(args, "--cadvisor-socket=")
	}
	if o.CallTimeout > 0 {
		args = append(args, "--call-timeout", o.CallTimeout.String())
	}
	if o.Slow > 0 {
		args = append(args, "--slow", o.Slow.String())
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
			Name:      PodName(node, suffix()),
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
				VolumeMounts: []corev1.VolumeMount{{
					Name: socketVolume, MountPath: path.Join(HostRoot, dir), ReadOnly: true,
				}},
				TerminationMessagePath:   terminationLog,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext: &corev1.SecurityContext{
					Privileged:             ptr.To(true),
					RunAsUser:              ptr.To(int64(0)),
					ReadOnlyRootFilesystem: ptr.To(true),
				},
			}},
			Volumes: []corev1.Volume{{
				Name: socketVolume,
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: dir, Type: ptr.To(corev1.HostPathDirectory),
				}},
			}},
		},
	}
}
