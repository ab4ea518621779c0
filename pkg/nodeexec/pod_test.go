package nodeexec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/golden"
)

func testOptions(mods ...func(*Options)) Options {
	o := Options{
		Namespace: "cadvisor-doctor", Image: "ghcr.io/kubectl-cadvisor-doctor/probe:v0.1.0",
		ImagePullPolicy: corev1.PullIfNotPresent, Socket: DefaultSocket, RunID: "r7x2k",
		NodeTimeout: 45 * time.Second, Concurrency: 4,
		NameSuffix: func() string { return "abcde" },
	}
	for _, m := range mods {
		m(&o)
	}
	return o
}

func TestPodForGolden(t *testing.T) {
	pod := PodFor("node-1", testOptions(func(o *Options) {
		o.ImagePullSecrets = []string{"regcred"}
		o.PriorityClassName = "system-node-critical"
		o.CallTimeout = 2 * time.Second
		o.Slow = 250 * time.Millisecond
	}))
	b, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "pod.yaml", b)
}

func TestPodForVariants(t *testing.T) {
	tests := []struct {
		name string
		node string
		opts Options
		// check returns what to compare: want, got.
		check func(*corev1.Pod) (any, any)
	}{
		{"k3s socket: /run mounted, for its socket and cAdvisor's", "n", testOptions(func(o *Options) { o.Socket = "/run/k3s/containerd/containerd.sock" }),
			func(p *corev1.Pod) (any, any) { return []string{"/run -> /host/run (Directory, ro)"}, mountsOf(p) }},
		{"k3s socket: the probe told the kubelet's socket, cAdvisor's left to its default", "n", testOptions(func(o *Options) { o.Socket = "/run/k3s/containerd/containerd.sock" }),
			func(p *corev1.Pod) (any, any) {
				return []string{"probe", "--host-root", "/host", "--socket", "/run/k3s/containerd/containerd.sock", "-o", "json",
					"--termination-message-path", "/dev/termination-log", "--timeout", "30s", "--node-name", "$(NODE_NAME)"}, p.Spec.Containers[0].Args
			}},
		{"default socket: only its directory", "n", testOptions(),
			func(p *corev1.Pod) (any, any) {
				return []string{"/run/containerd -> /host/run/containerd (Directory, ro)"}, mountsOf(p)
			}},
		{"socket outside /run: both directories", "n", testOptions(func(o *Options) { o.Socket = "/var/snap/microk8s/common/run/containerd.sock" }),
			func(p *corev1.Pod) (any, any) {
				return []string{"/var/snap/microk8s/common/run -> /host/var/snap/microk8s/common/run (Directory, ro)", "/run -> /host/run (Directory, ro)"}, mountsOf(p)
			}},
		{"socket unknown: /run mounted, the probe discovers", "n", testOptions(func(o *Options) { o.Socket = "" }),
			func(p *corev1.Pod) (any, any) {
				return []any{[]string{"/run -> /host/run (Directory, ro)"}, []string{"probe", "--host-root", "/host", "-o", "json",
					"--termination-message-path", "/dev/termination-log", "--timeout", "30s", "--node-name", "$(NODE_NAME)"}}, []any{mountsOf(p), p.Spec.Containers[0].Args}
			}},
		{"no passthrough flags by default", "n", testOptions(),
			func(p *corev1.Pod) (any, any) {
				return []string{"probe", "--host-root", "/host", "--socket", DefaultSocket, "-o", "json",
					"--termination-message-path", "/dev/termination-log", "--timeout", "30s", "--node-name", "$(NODE_NAME)"}, p.Spec.Containers[0].Args
			}},
		{"explicit probe timeout", "n", testOptions(func(o *Options) { o.ProbeTimeout = 12 * time.Second }),
			func(p *corev1.Pod) (any, any) { return "12s", p.Spec.Containers[0].Args[10] }},
		{"active deadline is node timeout plus 30s, rounded up", "n", testOptions(func(o *Options) { o.NodeTimeout = 2500 * time.Millisecond }),
			func(p *corev1.Pod) (any, any) { return int64(33), *p.Spec.ActiveDeadlineSeconds }},
		{"run labels", "n", testOptions(),
			func(p *corev1.Pod) (any, any) {
				return map[string]string{"app.kubernetes.io/managed-by": "kubectl-cadvisor-doctor", "cadvisor-doctor.io/run-id": "r7x2k"}, p.Labels
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, got := tc.check(PodFor(tc.node, tc.opts))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// mountsOf lists the pod's hostPath volumes as "host -> container (type, ro)".
func mountsOf(p *corev1.Pod) []string {
	var out []string
	for i, v := range p.Spec.Volumes {
		m := p.Spec.Containers[0].VolumeMounts[i]
		ro := "rw"
		if m.ReadOnly {
			ro = "ro"
		}
		if m.Name != v.Name {
			out = append(out, "mount/volume name mismatch: "+m.Name+" "+v.Name)
		}
		out = append(out, v.HostPath.Path+" -> "+m.MountPath+" ("+string(*v.HostPath.Type)+", "+ro+")")
	}
	return out
}

func TestPodName(t *testing.T) {
	long := strings.Repeat("ip-10-0-0-1.eu-west-1.compute.internal.", 4)
	tests := []struct{ node, want string }{
		{"node-1", "cadvisor-doctor-node-1-abcde"},
		{"Node-A", "cadvisor-doctor-node-a-abcde"},
		{long, "cadvisor-doctor-ip-10-0-0-1.eu-west-1.compute.internal.ip-abcde"},
	}
	for _, tc := range tests {
		got := PodName(tc.node, "abcde")
		if got != tc.want {
			t.Errorf("PodName(%q) (-want +got):\n%s", tc.node, cmp.Diff(tc.want, got))
		}
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 || len(got) > 63 {
			t.Errorf("PodName(%q) = %q is not a valid short pod name: %v", tc.node, got, errs)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"valid", func(*Options) {}, ""},
		{"socket per node", func(o *Options) { o.Socket = "" }, ""},
		{"ttrpc socket", func(o *Options) { o.Socket = "/run/containerd/containerd.sock.ttrpc" },
			"--socket /run/containerd/containerd.sock.ttrpc is containerd's ttrpc socket, which neither the kubelet nor cAdvisor uses: pass the gRPC socket, /run/containerd/containerd.sock"},
		{"relative socket", func(o *Options) { o.Socket = "run/containerd.sock" }, `--socket must be a clean absolute path to a socket file, got "run/containerd.sock"`},
		{"bad pull policy", func(o *Options) { o.ImagePullPolicy = "Sometimes" }, `--image-pull-policy must be Always, IfNotPresent or Never, got "Sometimes"`},
		{"every problem at once", func(o *Options) { o.Image = ""; o.Concurrency = 0; o.NodeTimeout = time.Second },
			"--image must not be empty\n--node-timeout must be at least 2s, got 1s\n--concurrency must be at least 1, got 0"},
		{"probe timeout beyond node timeout", func(o *Options) { o.ProbeTimeout = time.Minute },
			"probe timeout 1m0s must be positive and below --node-timeout 45s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := testOptions(tc.mod).Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() (-want +got):\n%s", cmp.Diff(tc.want, got))
			}
		})
	}
}
