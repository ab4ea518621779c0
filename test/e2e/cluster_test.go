//go:build e2e

package e2e

// Helpers for end-to-end tests on the local cluster of hack/e2e-cluster.
//
// TestMain (main_test.go) brings one cluster up for the whole package (every e2e test file
// shares it) and tears it down after the last test, then checks that nothing
// is left. Tests get it with Shared(t). A test that needs a cluster set up
// differently (for example one node's containerd on another socket) starts
// its own with NewCluster(t, Options{...}); it runs beside the shared one.
//
// Environment:
//
//	E2E_NAME             name of the shared cluster (default kcd-t<pid>: unique per
//	                     test process, so concurrent runs never share or kill a cluster)
//	E2E_REUSE_CLUSTER=1  use the cluster E2E_NAME (default kcd-e2e) if it is up, else
//	                     start it; never tear it down (fast local iteration)
//	E2E_NODES, E2E_CONTAINERD_SOCK, E2E_RUNTIME_REQUEST_TIMEOUT, E2E_ROOT, ...
//	                     passed through to `hack/e2e-cluster up` (see its header)
//	KCD_REQUIRE_REAL=1   a missing prerequisite (not root) fails instead of skipping
//
// Under -short every e2e test skips.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options says how to bring a cluster up. Zero values take the script's
// defaults.
type Options struct {
	// Name is E2E_NAME; "" picks a name unique to this process.
	Name string
	// Nodes is the node count (node-1..node-N); 0 means 3.
	Nodes int
	// ContainerdSock maps a node to the socket its containerd serves (and
	// its kubelet uses), e.g. {"node-3": "/run/k3s/containerd/containerd.sock"}.
	ContainerdSock map[string]string
	// RuntimeRequestTimeout is the kubelets' runtimeRequestTimeout; 0 means
	// the script's default (30s).
	RuntimeRequestTimeout time.Duration
}

// Cluster is a running cluster of hack/e2e-cluster.
type Cluster struct {
	Name string
	// Kubeconfig is the admin kubeconfig. Its server is inside the
	// control-plane network namespace: use Command/Exec, or RESTConfig, which
	// dials from there.
	Kubeconfig string
	Nodes      []string
	// PluginPath is the kubectl-cadvisor_doctor binary `up` built from this
	// tree; the probe image on every node holds the same binary.
	PluginPath string
	// ProbeImage is the reference the probe image is imported under (the
	// plugin's default, so `check` needs no --image).
	ProbeImage string
	// APIServer is the API server's URL (inside the control-plane netns).
	APIServer string
	// ContainerdSock is each node's containerd socket (as the node sees it).
	ContainerdSock map[string]string
	// NodeIP is each node's InternalIP.
	NodeIP map[string]string

	script string
}

// ExecResult is what a command run through the script did.
type ExecResult struct {
	Stdout, Stderr string
	// ExitCode is the command's exit code; -1 if it did not run or was killed.
	ExitCode int
	// Err is nil when the command exited 0.
	Err error
}

// String is for failure messages.
func (r ExecResult) String() string {
	return fmt.Sprintf("exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Err, r.Stdout, r.Stderr)
}

// scriptPath is hack/e2e-cluster of this checkout.
func scriptPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "hack", "e2e-cluster")
}

// stateRoot is the script's E2E_ROOT.
func stateRoot() string {
	if r := os.Getenv("E2E_ROOT"); r != "" {
		return r
	}
	return "/var/lib/kcd-e2e"
}

func uniqueName() string { return fmt.Sprintf("kcd-t%d", os.Getpid()) }

// scriptCmd returns the script run with args for the cluster name.
func scriptCmd(ctx context.Context, name string, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, scriptPath(), args...)
	cmd.Env = append(append(os.Environ(), "E2E_NAME="+name), extraEnv...)
	// The script execs the command in the namespaces; if the context ends,
	// the command itself is killed, and pipes are not waited on forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func run(cmd *exec.Cmd) ExecResult {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ExecResult{Stdout: out.String(), Stderr: errb.String(), ExitCode: -1, Err: err}
	if cmd.ProcessState != nil {
		r.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err != nil {
		r.Err = fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, lastLine(r.Stderr))
	}
	return r
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Start brings a cluster up with hack/e2e-cluster up (a few seconds with the
// Kubernetes binaries cached) and attaches to it. If it is already up, it
// attaches.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Name == "" {
		o.Name = uniqueName()
	}
	var env []string
	if o.Nodes > 0 {
		env = append(env, fmt.Sprintf("E2E_NODES=%d", o.Nodes))
	}
	if len(o.ContainerdSock) > 0 {
		var kv []string
		for n, s := range o.ContainerdSock {
			kv = append(kv, n+"="+s)
		}
		env = append(env, "E2E_CONTAINERD_SOCK="+strings.Join(kv, ","))
	}
	if o.RuntimeRequestTimeout > 0 {
		env = append(env, "E2E_RUNTIME_REQUEST_TIMEOUT="+o.RuntimeRequestTimeout.String())
	}
	if r := run(scriptCmd(ctx, o.Name, env, "up")); r.Err != nil {
		return nil, fmt.Errorf("bringing cluster %s up: %w\n%s", o.Name, r.Err, r.Stderr)
	}
	return Attach(ctx, o.Name)
}

// Attach reads a running cluster's facts from `hack/e2e-cluster status`.
func Attach(ctx context.Context, name string) (*Cluster, error) {
	r := run(scriptCmd(ctx, name, nil, "status"))
	if r.Err != nil {
		return nil, fmt.Errorf("cluster %s is not up: %w\n%s", name, r.Err, r.Stdout)
	}
	kv := map[string]string{}
	c := &Cluster{Name: name, script: scriptPath(), ContainerdSock: map[string]string{}, NodeIP: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		kv[k] = v
		// daemon: node-1.containerd pid=123 running socket=/run/... ip=10.250.0.11
		if f := strings.Fields(v); k == "daemon" && len(f) > 0 && strings.HasSuffix(f[0], ".containerd") {
			node := strings.TrimSuffix(f[0], ".containerd")
			for _, attr := range f[1:] {
				if s, ok := strings.CutPrefix(attr, "socket="); ok {
					c.ContainerdSock[node] = s
				}
				if ip, ok := strings.CutPrefix(attr, "ip="); ok {
					c.NodeIP[node] = ip
				}
			}
		}
	}
	c.Kubeconfig, c.Nodes, c.PluginPath = kv["kubeconfig"], strings.Fields(kv["nodes"]), kv["plugin"]
	c.ProbeImage, c.APIServer = kv["probe-image"], kv["apiserver"]
	if c.Kubeconfig == "" || len(c.Nodes) == 0 {
		return nil, fmt.Errorf("cluster %s: status lacks kubeconfig or nodes:\n%s", name, r.Stdout)
	}
	return c, nil
}

// Down tears the cluster down (hack/e2e-cluster down) and reports anything
// left behind.
func (c *Cluster) Down(ctx context.Context) error {
	r := run(scriptCmd(ctx, c.Name, nil, "down"))
	if r.Err != nil {
		return fmt.Errorf("down %s: %w\n%s", c.Name, r.Err, r.Stderr)
	}
	if left := Leftovers(c.Name); len(left) > 0 {
		return fmt.Errorf("down %s left: %s", c.Name, strings.Join(left, "; "))
	}
	return nil
}

// Script runs hack/e2e-cluster ARGS... for this cluster.
func (c *Cluster) Script(ctx context.Context, args ...string) ExecResult {
	return run(scriptCmd(ctx, c.Name, nil, args...))
}

// Command returns CMD ARGS... run in the control-plane network namespace
// with KUBECONFIG set and kubectl and kubectl-cadvisor_doctor on PATH
// (hack/e2e-cluster exec). Set Stdout/Stderr/Stdin as with exec.Cmd; the
// exit code is the command's own.
func (c *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return scriptCmd(ctx, c.Name, nil, append([]string{"exec", "--", name}, args...)...)
}

// Exec runs Command and collects its output.
func (c *Cluster) Exec(ctx context.Context, name string, args ...string) ExecResult {
	return run(c.Command(ctx, name, args...))
}

// Kubectl runs kubectl ARGS... against the cluster.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ExecResult {
	return c.Exec(ctx, "kubectl", args...)
}

// NodeCommand returns CMD ARGS... run inside node's mount and network
// namespaces (hack/e2e-cluster node-exec): there /run/containerd,
// /var/lib/kubelet, ... are the node's own. It runs in the node's cgroup,
// so whatever it leaves running is stopped by Down. Started in the
// background (cmd.Start), cmd.Process.Pid is the command's own PID.
func (c *Cluster) NodeCommand(ctx context.Context, node, name string, args ...string) *exec.Cmd {
	return scriptCmd(ctx, c.Name, nil, append([]string{"node-exec", node, "--", name}, args...)...)
}

// NodeExec runs NodeCommand and collects its output.
func (c *Cluster) NodeExec(ctx context.Context, node, name string, args ...string) ExecResult {
	return run(c.NodeCommand(ctx, node, name, args...))
}

func (c *Cluster) pid(ctx context.Context, args ...string) (int, error) {
	r := c.Script(ctx, args...)
	if r.Err != nil {
		return 0, r.Err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if err != nil {
		return 0, fmt.Errorf("%s: not a PID: %q", strings.Join(args, " "), r.Stdout)
	}
	return pid, nil
}

// ContainerdPID is node's containerd PID (in the host PID namespace, which
// hostPID pods share).
func (c *Cluster) ContainerdPID(ctx context.Context, node string) (int, error) {
	return c.pid(ctx, "pid", node, "containerd")
}

// KubeletPID is node's kubelet PID.
func (c *Cluster) KubeletPID(ctx context.Context, node string) (int, error) {
	return c.pid(ctx, "pid", node, "kubelet")
}

// ShimPID is the PID of the shim serving pod's sandbox on node; pod is
// NAME (namespace default) or NAMESPACE/NAME. It reads containerd's state
// directory, so it answers while containerd is frozen.
func (c *Cluster) ShimPID(ctx context.Context, node, pod string) (int, error) {
	return c.pid(ctx, "pid", node, "shim", pod)
}

// FreezeShim SIGSTOPs the shim of pod's sandbox on node (its containers'
// Tasks/Get then stall) and returns its PID. ThawShim or Down resumes it.
func (c *Cluster) FreezeShim(ctx context.Context, node, pod string) (int, error) {
	return c.pid(ctx, "freeze-shim", node, pod)
}

// ThawShim SIGCONTs the shim of pod's sandbox on node.
func (c *Cluster) ThawShim(ctx context.Context, node, pod string) error {
	_, err := c.pid(ctx, "thaw-shim", node, pod)
	return err
}

// FreezeRuntime SIGSTOPs node's containerd. ThawRuntime or Down resumes it.
func (c *Cluster) FreezeRuntime(ctx context.Context, node string) error {
	return c.Script(ctx, "freeze-runtime", node).Err
}

// ThawRuntime SIGCONTs node's containerd.
func (c *Cluster) ThawRuntime(ctx context.Context, node string) error {
	return c.Script(ctx, "thaw-runtime", node).Err
}

// StopRuntime stops node's containerd (SIGTERM by PID; its shims and
// containers keep running). StartRuntime starts it again on its socket.
func (c *Cluster) StopRuntime(ctx context.Context, node string) error {
	return c.Script(ctx, "stop-runtime", node).Err
}

// StartRuntime starts node's containerd and waits until it answers.
func (c *Cluster) StartRuntime(ctx context.Context, node string) error {
	return c.Script(ctx, "start-runtime", node).Err
}

// StopKubelet stops node's kubelet (SIGTERM by PID, SIGKILL after 10 s).
func (c *Cluster) StopKubelet(ctx context.Context, node string) error {
	return c.Script(ctx, "stop-kubelet", node).Err
}

// StartKubelet starts node's kubelet with its original configuration (its
// embedded cAdvisor registers its containerd factory anew).
func (c *Cluster) StartKubelet(ctx context.Context, node string) error {
	return c.Script(ctx, "start-kubelet", node).Err
}

// LogPath is the path of a daemon's log: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, NODE.containerd, NODE.kubelet.
func (c *Cluster) LogPath(ctx context.Context, component string) (string, error) {
	r := c.Script(ctx, "logs", component)
	return strings.TrimSpace(r.Stdout), r.Err
}

// RESTConfig is the admin client config. Its connections are dialed from
// the control-plane network namespace, so the test process itself can use
// client-go while the API server stays unreachable from the host.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", c.Kubeconfig, err)
	}
	cfg.Dial = netnsDialer("/run/netns/" + c.Name + "-cp")
	cfg.QPS, cfg.Burst = 50, 100
	cfg.Timeout = 30 * time.Second
	return cfg, nil
}

// Clientset is a clientset on RESTConfig.
func (c *Cluster) Clientset() (kubernetes.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}
