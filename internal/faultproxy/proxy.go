// Package faultproxy is a fault-injecting gRPC proxy for tests. It sits on a
// unix socket between a client (the probe, a kubelet's cAdvisor) and a real
// containerd, forwards every call as raw bytes, and can delay, hang or fail
// the calls that a Rule selects by method and request bytes.
//
// A real containerd cannot be made to hang one method (Containers/Get never
// blocks on writers) or one container without freezing the whole daemon, so
// partial stalls are injected here instead. SIGSTOP of a process running the
// proxy simulates a frozen daemon without touching containerd.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Proxy forwards gRPC calls from a listening unix socket to an upstream one.
type Proxy struct {
	listenPath string
	lis        net.Listener
	srv        *grpc.Server
	up         *grpc.ClientConn
	rules      atomic.Pointer[[]Rule]
	closing    chan struct{}
	closeOnce  sync.Once
	closeErr   error
	served     chan error
	log        callLog
}

// Start listens on listenPath and forwards calls to the containerd (or any
// gRPC server) at upstreamPath. It removes a stale socket file at listenPath
// (one nothing answers on) but refuses to take over a live one. The upstream
// is dialed lazily, per call, like a normal gRPC client: a missing upstream
// makes calls fail with Unavailable, not Start.
func Start(listenPath, upstreamPath string) (*Proxy, error) {
	if err := removeStaleSocket(listenPath); err != nil {
		return nil, err
	}
	up, err := grpc.NewClient("passthrough:///faultproxy-upstream",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", upstreamPath)
		}),
		// A restarted upstream should be reachable again within a fraction
		// of a second, not after grpc's default backoff of up to 2 minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: 2 * time.Second,
		}),
		// The proxy must not impose message limits of its own: a client that
		// fails on a huge response must fail because of its own limit.
		grpc.WithDefaultCallOptions(
			grpc.ForceCodec(rawCodec{}),
			grpc.MaxCallRecvMsgSize(math.MaxInt32),
			grpc.MaxCallSendMsgSize(math.MaxInt32),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream %s: %w", upstreamPath, err)
	}
	lis, err := net.Listen("unix", listenPath)
	if err != nil {
		up.Close()
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		listenPath: listenPath,
		lis:        lis,
		up:         up,
		closing:    make(chan struct{}),
		served:     make(chan error, 1),
		log:        newCallLog(),
	}
	p.rules.Store(&[]Rule{})
	p.srv = grpc.NewServer(
		grpc.UnknownServiceHandler(p.handle),
		grpc.ForceServerCodec(rawCodec{}),
		grpc.MaxRecvMsgSize(math.MaxInt32),
		grpc.MaxSendMsgSize(math.MaxInt32),
		// Close returns only when every handler has, so no call logs after it.
		grpc.WaitForHandlers(true),
	)
	go func() { p.served <- p.srv.Serve(lis) }()
	return p, nil
}

// ListenPath is the socket clients dial.
func (p *Proxy) ListenPath() string { return p.listenPath }

// SetRules replaces the rule set atomically. Calls that already started keep
// the rule they matched; new calls use the new set. No rules passes
// everything. A Delay rule with no positive Delay passes at once, and a Fail
// rule with code OK fails with Unknown (ParseRules rejects both).
func (p *Proxy) SetRules(rules ...Rule) {
	rs := append([]Rule(nil), rules...)
	p.rules.Store(&rs)
	p.log.logf("rules set: %d rule(s)%s", len(rs), describeRules(rs))
}

// Rules returns a copy of the current rule set.
func (p *Proxy) Rules() []Rule { return append([]Rule(nil), *p.rules.Load()...) }

// SetLogf sends one line per call start, per call end and per rule change to
// logf (e.g. t.Logf or log.Printf); nil turns logging off. Starts are logged
// too because a hung call never ends.
func (p *Proxy) SetLogf(logf func(format string, args ...any)) { p.log.setLogf(logf) }

// Close stops listening, releases hung and delayed calls (they fail with
// Unavailable), closes the upstream connection and waits for every call's
// handler to return. It removes the socket file. Safe to call twice.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.srv.Stop()
		upErr := p.up.Close()
		serveErr := <-p.served
		if errors.Is(serveErr, grpc.ErrServerStopped) {
			serveErr = nil
		}
		p.closeErr = errors.Join(serveErr, upErr)
		p.log.logf("closed")
	})
	return p.closeErr
}

// removeStaleSocket deletes a socket file left by a killed proxy so that
// Listen can succeed, but not a socket something still answers on, and not
// a file that is not a socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("faultproxy: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("faultproxy: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, 500*time.Millisecond)
	if err == nil {
		c.Close()
		return fmt.Errorf("faultproxy: %s is in use by a live server", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("faultproxy: probe %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("faultproxy: remove stale socket: %w", err)
	}
	return nil
}

// rawCodec passes messages through as the bytes on the wire. It is named
// "proto" so that the content-type the proxy sends upstream
// (application/grpc+proto) is the one containerd expects.
type rawCodec struct{}

// frame is one message's wire bytes.
type frame struct{ payload []byte }

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("faultproxy: cannot marshal %T", v)
	}
	return f.payload, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("faultproxy: cannot unmarshal into %T", v)
	}
	// grpc may reuse data's buffer after Unmarshal returns.
	f.payload = append([]byte(nil), data...)
	return nil
}

var _ io.Closer = (*Proxy)(nil)
