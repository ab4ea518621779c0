package stall

import (
	"bytes"
	"context"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeproxy"
)

// Configs reads each node's /configz once per run and keeps it: the pod
// path needs the kubelet's CRI endpoint before it creates the node's pod
// (which directory to mount, which socket to probe), and the evidence
// records it. Both ask; one request is made.
type Configs struct {
	Client kubernetes.Interface
	// Timeout bounds the request (nodeproxy.DefaultTimeout when zero).
	Timeout time.Duration

	mu     sync.Mutex
	byNode map[string]*configEntry
}

// NodeConfig is what one node's /configz gave: the config, or why not.
type NodeConfig struct {
	Config      *kubeletevidence.KubeletConfig
	Unavailable *kubeletevidence.Unavailable
}

type configEntry struct {
	done chan struct{}
	nc   NodeConfig
}

// Get returns the node's /configz, reading it on the first call; every
// caller waits for that one read, or for its own ctx. The read itself is
// bounded by Timeout, not by the first caller's ctx: the pod path waits
// only briefly for it (a kubelet slow to answer must not hold the node's
// pod back), and the evidence, which waits longer, must still get it.
func (c *Configs) Get(ctx context.Context, node string) NodeConfig {
	c.mu.Lock()
	if c.byNode == nil {
		c.byNode = map[string]*configEntry{}
	}
	e, ok := c.byNode[node]
	if !ok {
		e = &configEntry{done: make(chan struct{})}
		c.byNode[node] = e
	}
	c.mu.Unlock()
	if !ok {
		fctx := context.WithoutCancel(ctx)
		go func() {
			e.nc = c.fetch(fctx, node)
			close(e.done)
		}()
	}
	select {
	case <-e.done:
		return e.nc
	case <-ctx.Done():
		u := kubeletevidence.ClassifyProxyError(kubeletevidence.PathConfigz, ctx.Err())
		return NodeConfig{Unavailable: &u}
	}
}

func (c *Configs) fetch(ctx context.Context, node string) NodeConfig {
	req := nodeproxy.Configz()
	req.Timeout = c.Timeout
	if req.Timeout <= 0 {
		req.Timeout = nodeproxy.DefaultTimeout
	}
	f := &nodeproxy.Fetcher{Client: c.Client.CoreV1().RESTClient()}
	r := f.Fetch(ctx, node, req)
	if r.Err != nil {
		return NodeConfig{Unavailable: r.Err}
	}
	cfg, err := kubeletevidence.ParseConfigz(bytes.NewReader(r.Body), nodeproxy.MaxConfigzBytes)
	if err != nil {
		u := unreadable(r.Path, err)
		return NodeConfig{Unavailable: &u}
	}
	return NodeConfig{Config: cfg}
}

// RuntimeSocket is the kubelet's CRI socket path from its /configz, ""
// when /configz could not be read or names no unix socket.
func (nc NodeConfig) RuntimeSocket() string {
	if nc.Config == nil {
		return ""
	}
	p, err := nc.Config.RuntimeSocketPath()
	if err != nil {
		return ""
	}
	return p
}
