// Package nodeproxy reads kubelet endpoints through the API server's node
// proxy (GET /api/v1/nodes/NODE/proxy/PATH): each request under its own
// deadline and byte limit, nodes fetched with bounded concurrency. It returns
// raw bytes or a classified error (kubeletevidence.ClassifyProxyError) and
// never prints: parsing and verdicts are the callers' job.
package nodeproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
)

// Defaults. A kubelet answers each of these within 0.1 s when healthy
// (docs/kubelet-evidence.md, measured on the local cluster); 5 s leaves room
// for a loaded API server without letting one node hold the run.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultConcurrency = 10
	// MaxDumpBytes bounds a goroutine dump (131 KB on an idle node, megabytes
	// on a large one).
	MaxDumpBytes = 16 << 20
	// MaxMetricsBytes bounds /metrics/cadvisor and /stats/summary.
	MaxMetricsBytes = 16 << 20
	// MaxConfigzBytes bounds /configz (3 KB measured).
	MaxConfigzBytes = 1 << 20
)

// Request is one kubelet path to read.
type Request struct {
	// Path is one of kubeletevidence's Path* constants.
	Path string
	// Params are query parameters ("debug": "2").
	Params map[string]string
	// Timeout bounds the whole request, body included (0: DefaultTimeout).
	Timeout time.Duration
	// MaxBytes caps the body; more is cut off and Truncated set.
	MaxBytes int64
}

// Goroutines, CAdvisorMetrics, StatsSummary and Configz are the requests
// the stall evidence needs, with their limits.
func Goroutines() Request {
	return Request{Path: kubeletevidence.PathGoroutines, Params: map[string]string{"debug": "2"}, MaxBytes: MaxDumpBytes}
}
func CAdvisorMetrics() Request {
	return Request{Path: kubeletevidence.PathCAdvisorMetrics, MaxBytes: MaxMetricsBytes}
}
func StatsSummary() Request {
	return Request{Path: kubeletevidence.PathStatsSummary, MaxBytes: MaxMetricsBytes}
}
func Configz() Request { return Request{Path: kubeletevidence.PathConfigz, MaxBytes: MaxConfigzBytes} }

// Response is what one request gave.
type Response struct {
	Node string
	Path string
	// Body is the (possibly truncated) body; nil when Err is set.
	Body      []byte
	Truncated bool
	// Latency is the time to the end of the body (or to the error).
	Latency time.Duration
	// Err says why the body is missing; nil on success.
	Err *kubeletevidence.Unavailable
}

// Fetcher reads kubelet paths through the node proxy.
type Fetcher struct {
	// Client is a core/v1 REST client (clientset.CoreV1().RESTClient()).
	Client rest.Interface
	// Now is the clock for latencies (time.Now when nil).
	Now func() time.Time
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Fetch makes one request. It never returns a Go error: a failure is the
// Response's Err, classified.
func (f *Fetcher) Fetch(ctx context.Context, node string, req Request) Response {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := f.now()
	resp := Response{Node: node, Path: req.Path}
	r := f.Client.Get().Resource("nodes").Name(node).SubResource("proxy").Suffix(req.Path)
	for k, v := range req.Params {
		r = r.Param(k, v)
	}
	body, truncated, err := readStream(ctx, r, req.MaxBytes)
	resp.Latency = f.now().Sub(start)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			// A body read cut by our deadline surfaces as a plain read
			// error: name the deadline so the classifier sees it.
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
		u := kubeletevidence.ClassifyProxyError(req.Path, err)
		resp.Err = &u
		return resp
	}
	resp.Body, resp.Truncated = body, truncated
	return resp
}

func readStream(ctx context.Context, r *rest.Request, maxBytes int64) ([]byte, bool, error) {
	rc, err := r.Stream(ctx)
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	if maxBytes <= 0 {
		maxBytes = MaxMetricsBytes
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxBytes+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > maxBytes {
		return b[:maxBytes], true, nil
	}
	return b, false, nil
}

// ForEachNode runs fn for every node, at most concurrency at a time (0:
// DefaultConcurrency), and returns when all have returned or ctx ends (nodes
// not started by then are not run).
func ForEachNode(ctx context.Context, nodes []string, concurrency int, fn func(ctx context.Context, node string)) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	var g errgroup.Group
	g.SetLimit(concurrency)
	for _, n := range nodes {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if ctx.Err() == nil {
				fn(ctx, n)
			}
			return nil
		})
	}
	_ = g.Wait()
}
