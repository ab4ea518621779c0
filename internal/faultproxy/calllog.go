package faultproxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxCalls bounds the call history Calls returns.
const maxCalls = 10000

// Call is one call the proxy saw.
type Call struct {
	ID        uint64
	Method    string
	Namespace string // the containerd-namespace header, "" if absent
	Action    Action // what the matching rule did (Pass when none matched)
	Rule      int    // index of the matching rule in the set, -1 for none
	Start     time.Time
	// Deadline is the client's deadline; zero when the client set none
	// (as cAdvisor does for several calls).
	Deadline time.Time
	End      time.Time  // zero while the call is in flight
	Code     codes.Code // the status the client got; meaningful once End is set
}

// InFlight reports whether the call has not ended yet.
func (c Call) InFlight() bool { return c.End.IsZero() }

// Counts are per-method call counters.
type Counts struct {
	Started, Finished int
	// By the action of the matching rule, counted at start.
	Passed, Delayed, Hung, Failed int
	// ByCode counts finished calls by the status the client got.
	ByCode map[codes.Code]int
}

// InFlight is the number of calls started and not finished.
func (c Counts) InFlight() int { return c.Started - c.Finished }

type callLog struct {
	mu     sync.Mutex
	out    func(format string, args ...any)
	nextID uint64
	ring   []*Call // the last maxCalls calls, oldest first once wrapped
	head   int
	counts map[string]*Counts
}

func newCallLog() callLog { return callLog{counts: map[string]*Counts{}} }

func (l *callLog) setLogf(f func(string, ...any)) {
	l.mu.Lock()
	l.out = f
	l.mu.Unlock()
}

func (l *callLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out != nil {
		l.out("faultproxy: "+format, args...)
	}
}

func (l *callLog) begin(ctx context.Context, method string, md metadata.MD, rule Rule, idx int) *Call {
	c := &Call{Method: method, Action: rule.Action, Rule: idx, Start: time.Now()}
	if v := md.Get("containerd-namespace"); len(v) > 0 {
		c.Namespace = v[0]
	}
	if dl, ok := ctx.Deadline(); ok {
		c.Deadline = dl
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextID++
	c.ID = l.nextID
	if len(l.ring) < maxCalls {
		l.ring = append(l.ring, c)
	} else {
		l.ring[l.head] = c
		l.head = (l.head + 1) % maxCalls
	}
	n := l.countsFor(method)
	n.Started++
	switch rule.Action {
	case Pass:
		n.Passed++
	case Delay:
		n.Delayed++
	case Hang:
		n.Hung++
	case Fail:
		n.Failed++
	}
	if l.out != nil {
		deadline := "none"
		if !c.Deadline.IsZero() {
			deadline = c.Deadline.Sub(c.Start).Round(time.Millisecond).String()
		}
		l.out("faultproxy: start #%d %s ns=%q deadline=%s action=%s rule=%d", c.ID, method, c.Namespace, deadline, rule.Action, idx)
	}
	return c
}

func (l *callLog) end(c *Call, err error) {
	code := status.Code(err)
	// A client whose deadline passed sees DeadlineExceeded, even when its
	// RST_STREAM reached us before our own timer and the upstream call
	// ended as Canceled.
	if code == codes.Canceled && !c.Deadline.IsZero() && !time.Now().Before(c.Deadline) {
		code = codes.DeadlineExceeded
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c.End = time.Now()
	c.Code = code
	n := l.countsFor(c.Method)
	n.Finished++
	n.ByCode[code]++
	if l.out != nil {
		msg := ""
		if err != nil {
			msg = fmt.Sprintf(" msg=%q", status.Convert(err).Message())
		}
		l.out("faultproxy: end   #%d %s code=%s%s after %s", c.ID, c.Method, code, msg, c.End.Sub(c.Start).Round(10*time.Microsecond))
	}
}

func (l *callLog) countsFor(method string) *Counts {
	n := l.counts[method]
	if n == nil {
		n = &Counts{ByCode: map[codes.Code]int{}}
		l.counts[method] = n
	}
	return n
}

// Calls returns the last calls (at most 10,000), oldest first, including
// those still in flight.
func (p *Proxy) Calls() []Call {
	l := &p.log
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Call, 0, len(l.ring))
	for i := range l.ring {
		out = append(out, *l.ring[(l.head+i)%len(l.ring)])
	}
	return out
}

// Counts returns the counters per full method.
func (p *Proxy) Counts() map[string]Counts {
	l := &p.log
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Counts, len(l.counts))
	for m, n := range l.counts {
		c := *n
		c.ByCode = make(map[codes.Code]int, len(n.ByCode))
		for k, v := range n.ByCode {
			c.ByCode[k] = v
		}
		out[m] = c
	}
	return out
}

// describeRules renders a rule set for the log.
func describeRules(rules []Rule) string {
	var b strings.Builder
	for i, r := range rules {
		method := r.Method
		if method == "" {
			method = "*"
		}
		fmt.Fprintf(&b, "; [%d] %s %s", i, method, r.Action)
		if r.Match != "" {
			fmt.Fprintf(&b, " match=%q", r.Match)
		}
		switch r.Action {
		case Delay:
			fmt.Fprintf(&b, " %s", r.Delay)
		case Fail:
			fmt.Fprintf(&b, " %s %q", r.Code, r.Message)
		}
	}
	return b.String()
}
