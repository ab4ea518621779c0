// Package nodeexec runs the probe on nodes through short-lived pods: plan
// which nodes, build one pod per node, create them with bounded
// concurrency, follow them with one shared watch, collect each probe
// result from the termination message, classify pods that do not finish
// from API evidence, and clean up by the run's label on every exit path.
//
// It takes a kubernetes.Interface and never prints, renders or picks an
// exit code: that is the caller's job.
package nodeexec

import (
	"errors"
	"fmt"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// Labels on every pod of a run. ManagedByLabel=ManagedByValue finds the
// leftovers of any run; RunIDLabel the pods of one run.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-cadvisor-doctor"
	RunIDLabel     = "cadvisor-doctor.io/run-id"
	// ContainerName is the probe container's name.
	ContainerName = "probe"
	// HostRoot is where host paths are mounted in the pod.
	HostRoot = "/host"
	// ProbeBinary is the probe image's entrypoint.
	ProbeBinary = "/kubectl-cadvisor_doctor"
)

// Defaults, chosen for on-call use; the command's flags start from these.
const (
	DefaultSocket      = "/run/containerd/containerd.sock"
	DefaultNodeTimeout = 60 * time.Second
	DefaultConcurrency = 20
	// DefaultGracePeriod is the pod's termination grace: the probe holds no
	// state worth a graceful stop.
	DefaultGracePeriod = 1 * time.Second
)

// Options configure the pods of a run. They are plain values: the command
// fills them from flags.
type Options struct {
	Namespace         string
	Image             string
	ImagePullPolicy   corev1.PullPolicy
	ImagePullSecrets  []string
	PriorityClassName string
	// Socket is containerd's socket as the nodes see it, the same on every
	// node; empty: per node (Runner.SocketFor), else discovered by the probe.
	Socket string
	// RunID is the run-id label's value.
	RunID string
	// NodeTimeout bounds one node: pod start plus probe.
	NodeTimeout time.Duration
	// ProbeTimeout is the probe's own --timeout; 0 derives it from NodeTimeout.
	ProbeTimeout time.Duration
	// CallTimeout and Slow pass through to the probe; 0 keeps its defaults.
	CallTimeout time.Duration
	Slow        time.Duration
	// Concurrency bounds pod creations in flight.
	Concurrency int
	// NameSuffix returns the random part of a pod name; nil means 5 random
	// characters. Tests inject a fixed one.
	NameSuffix func() string
}

// NewRunID returns a fresh run id (a valid label value).
func NewRunID() string { return utilrand.String(8) }

// RunSelector is the label selector of one run's pods.
func RunSelector(runID string) string {
	return ManagedByLabel + "=" + ManagedByValue + "," + RunIDLabel + "=" + runID
}

// ManagedSelector selects the pods of every run.
func ManagedSelector() string { return ManagedByLabel + "=" + ManagedByValue }

// probeTimeout is the probe's own deadline: two thirds of the node's budget
// leaves the rest for pod start and for writing the result, so a probe that
// runs out of time still reports before we give up on the node.
func (o Options) probeTimeout() time.Duration {
	if o.ProbeTimeout > 0 {
		return o.ProbeTimeout
	}
	return max(o.NodeTimeout*2/3, time.Second).Truncate(time.Second)
}

// earlyDelay is how long a pod may be pending before the run looks at its
// events and its node for a verdict that need not wait for --node-timeout
// (and again as often until the deadline): a third of the node's budget,
// within 5 s (a healthy probe pod starts in about 2 s) and 20 s.
func (o Options) earlyDelay() time.Duration {
	return min(max(o.NodeTimeout/3, minEarlyDelay), 20*time.Second)
}

// minEarlyDelay is the shortest wait before a pending pod is looked at.
const minEarlyDelay = 5 * time.Second

// Validate checks the options without I/O and reports every problem.
func (o Options) Validate() error {
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, errors.New("namespace must not be empty"))
	}
	if o.Image == "" {
		errs = append(errs, errors.New("--image must not be empty"))
	}
	switch o.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("--image-pull-policy must be Always, IfNotPresent or Never, got %q", o.ImagePullPolicy))
	}
	if o.Socket != "" && (!path.IsAbs(o.Socket) || path.Clean(o.Socket) != o.Socket || o.Socket == "/") {
		errs = append(errs, fmt.Errorf("--socket must be a clean absolute path to a socket file, got %q", o.Socket))
	}
	if err := checks.TTRPCSocketError("--socket", o.Socket); err != nil {
		errs = append(errs, err)
	}
	if o.RunID == "" {
		errs = append(errs, errors.New("run id must not be empty"))
	}
	if o.NodeTimeout < 2*time.Second {
		errs = append(errs, fmt.Errorf("--node-timeout must be at least 2s, got %s", o.NodeTimeout))
	}
	if o.ProbeTimeout < 0 || (o.ProbeTimeout > 0 && o.ProbeTimeout >= o.NodeTimeout) {
		errs = append(errs, fmt.Errorf("probe timeout %s must be positive and below --node-timeout %s", o.ProbeTimeout, o.NodeTimeout))
	}
	if o.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("--call-timeout must not be negative, got %s", o.CallTimeout))
	}
	if o.Slow < 0 {
		errs = append(errs, fmt.Errorf("--slow must not be negative, got %s", o.Slow))
	}
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency must be at least 1, got %d", o.Concurrency))
	}
	return errors.Join(errs...)
}
