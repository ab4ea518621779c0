package checks

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Defaults match what cAdvisor and the kubelet use.
const (
	DefaultNamespace   = "k8s.io"
	DefaultCallTimeout = 2 * time.Second
	DefaultSlow        = 500 * time.Millisecond
	DefaultTimeout     = 30 * time.Second
	DefaultConcurrency = 32
	DefaultProc        = "/proc"
)

// Config is everything one probe run needs. It holds no flags or I/O: the
// probe command fills it.
type Config struct {
	// Socket is the containerd socket as the host sees it; empty means
	// discover the known locations (KnownSockets).
	Socket string
	// CadvisorSocket is the socket cAdvisor dials, as the host sees it
	// (DefaultCadvisorSocket in the probe command). When it is not Socket the
	// probe checks it too and says whether the same daemon serves both;
	// empty disables that check.
	CadvisorSocket string
	// CadvisorFromKubelet: a --containerd flag on this node's kubelet
	// command line (kubelets before 1.37) overrides CadvisorSocket; the
	// probe command's default ("auto").
	CadvisorFromKubelet bool
	// HostRoot prefixes every host path (socket, /proc-visible files) when the
	// host filesystem is mounted elsewhere, as in the probe pod (/host).
	HostRoot string
	// Proc is the host's /proc (with hostPID, the pod's /proc is the host's).
	Proc      string
	Namespace string
	// CallTimeout is the deadline of every single call (cAdvisor uses 2s).
	CallTimeout time.Duration
	// Slow is the latency above which a call makes the verdict Slow.
	Slow time.Duration
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Concurrency bounds the calls in flight during the sweep.
	Concurrency int
	// Node is recorded in Result.Node.
	Node string
}

// NewConfig returns a Config with the defaults.
func NewConfig() Config {
	return Config{
		Proc:        DefaultProc,
		Namespace:   DefaultNamespace,
		CallTimeout: DefaultCallTimeout,
		Slow:        DefaultSlow,
		Timeout:     DefaultTimeout,
		Concurrency: DefaultConcurrency,
	}
}

// Validate reports every invalid field; it does no I/O.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--call-timeout", c.CallTimeout}, {"--slow", c.Slow}, {"--timeout", c.Timeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency must be at least 1, got %d", c.Concurrency))
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New("--containerd-namespace must not be empty"))
	}
	// Paths are as the host sees them: a relative one would be resolved
	// against wherever the probe happens to run.
	for _, p := range []struct{ flag, v string }{{"--socket", c.Socket}, {"--cadvisor-socket", c.CadvisorSocket}, {"--host-root", c.HostRoot}} {
		if p.v != "" && !filepath.IsAbs(p.v) {
			errs = append(errs, fmt.Errorf("%s must be an absolute path, got %q", p.flag, p.v))
		}
	}
	for _, p := range []struct{ flag, v string }{{"--socket", c.Socket}, {"--cadvisor-socket", c.CadvisorSocket}} {
		if err := TTRPCSocketError(p.flag, p.v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// TTRPCSocketError says, for a flag naming containerd's ttrpc socket
// (<grpc socket>.ttrpc), which socket to pass instead; nil otherwise. A
// gRPC client there would only time out: read as a hung daemon.
func TTRPCSocketError(flag, path string) error {
	if !strings.HasSuffix(path, ".ttrpc") {
		return nil
	}
	return fmt.Errorf("%s %s is containerd's ttrpc socket, which neither the kubelet nor cAdvisor uses: pass the gRPC socket, %s", flag, path, strings.TrimSuffix(path, ".ttrpc"))
}
