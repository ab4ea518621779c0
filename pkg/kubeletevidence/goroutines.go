// Package kubeletevidence parses what the kubelet serves about itself through
// the API server's node proxy: its goroutine dump (/debug/pprof/goroutine?debug=2),
// cAdvisor's metrics (/metrics/cadvisor) and its configuration (/configz).
// Pure parsing: no API calls, no clock; callers pass the time in.
package kubeletevidence

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Kinds of blocked call.
const (
	// KindCAdvisor: inside cAdvisor's containerd client ((*client).TaskPid, ...).
	KindCAdvisor = "cadvisor"
	// KindContainerd: a containerd API gRPC client call outside cAdvisor.
	KindContainerd = "containerd"
	// KindCRI: a CRI gRPC client call (runtime.v1); the kubelet bounds these
	// by runtimeRequestTimeout, so they are evidence of a slow runtime, not a
	// cAdvisor stall.
	KindCRI = "cri"
)

// ErrNotGoroutineDump: the input has no "goroutine N [state]:" header at all
// (an HTML error page, a pprof index, a binary profile, garbage).
var ErrNotGoroutineDump = errors.New("not a goroutine dump (debug=2): no goroutine header found")

// BlockedCall is one goroutine parked inside a containerd or CRI gRPC call.
type BlockedCall struct {
	GoroutineID int64  `json:"goroutineId"`
	State       string `json:"state"` // "select", "IO wait", ...
	// WaitMinutes is the dump's "[select, M minutes]" annotation. The Go
	// runtime prints it only once a goroutine has waited a whole minute, so 0
	// means "under a minute, or not shown": a lower bound, not a measurement.
	WaitMinutes int    `json:"waitMinutes"`
	Kind        string `json:"kind"`
	// CAdvisorMethod is the method of cAdvisor's containerd client
	// ("TaskPid", "LoadContainer", "TaskExitStatus", "Version"), if any.
	CAdvisorMethod string `json:"cadvisorMethod,omitempty"`
	// GRPCMethod is the full method, derived from the generated client's
	// frame ("/containerd.services.tasks.v1.Tasks/Get").
	GRPCMethod string `json:"grpcMethod,omitempty"`
	// Site is the cAdvisor function that made the call
	// ("newContainerdContainerHandler", "(*containerdFactory).CanHandleAndAccept").
	Site string `json:"site,omitempty"`
	// Caller is cAdvisor's manager function above it ("(*manager).createContainer").
	Caller string `json:"caller,omitempty"`
	// CreatedBy is the function that started the goroutine.
	CreatedBy string `json:"createdBy,omitempty"`
	// signature identifies this very call (frames and the client frame's
	// arguments), to recognise it again in a later dump.
	signature string
}

// LockWaiter is a goroutine parked on a lock inside cAdvisor's manager: with
// cAdvisor <= v0.54 (kubelet <= 1.35) these queue behind a stuck call that
// holds the containers lock (kubernetes#102481).
type LockWaiter struct {
	GoroutineID int64  `json:"goroutineId"`
	State       string `json:"state"`
	WaitMinutes int    `json:"waitMinutes"`
	Function    string `json:"function"` // "(*manager).getContainersDiff"
}

// GoroutineDump is what the parser keeps of a dump.
type GoroutineDump struct {
	Goroutines  int           `json:"goroutines"`
	Blocked     []BlockedCall `json:"blocked"`
	LockWaiters []LockWaiter  `json:"lockWaiters,omitempty"`
	// Truncated: the input ended inside a goroutine (no final newline, a
	// function line without its file line) or hit the read limit.
	Truncated bool `json:"truncated"`
}

// ParseOptions bound the parser.
type ParseOptions struct {
	// MaxBytes stops reading after this many bytes (0: 64 MiB). The dump is
	// marked Truncated when the limit is hit.
	MaxBytes int64
	// MaxFrames keeps at most this many frames per goroutine (0: 256);
	// deeper frames are dropped (a client frame below them is not seen).
	MaxFrames int
}

var (
	headerRE = regexp.MustCompile(`^goroutine (\d+)(?: [^\[]*)?\[([^\]]*)\]:\s*$`)
	minuteRE = regexp.MustCompile(`^(\d+) minutes?$`)
	// cAdvisor's client: container/containerd (< v0.60) or lib/container/containerd.
	cadvisorClientRE = regexp.MustCompile(`cadvisor/(?:lib/)?container/containerd\.\(\*client\)\.(\w+)$`)
	cadvisorPkgRE    = regexp.MustCompile(`cadvisor/(?:lib/)?container/containerd\.((?:\(\*\w+\)\.)?\w+)(?:\.func\d+)*$`)
	managerRE        = regexp.MustCompile(`cadvisor/(?:lib/)?manager\.(\(\*manager\)\.\w+)`)
	// Generated gRPC clients: containerd's api (also cAdvisor's vendored
	// third_party copy) and the CRI.
	containerdAPIRE = regexp.MustCompile(`/api/services/(\w+)/v1\.\(\*(\w+)Client\)\.(\w+)$`)
	criRE           = regexp.MustCompile(`k8s\.io/cri-api/pkg/apis/runtime/v1\.\(\*(\w+)Client\)\.(\w+)$`)
)

// ParseGoroutines reads a debug=2 goroutine dump and returns the goroutines
// blocked in containerd/CRI gRPC calls. It streams: memory stays bounded by
// one goroutine's frames, whatever the dump's size. Garbage lines are
// skipped; ErrNotGoroutineDump when nothing looked like a dump; a read error
// is returned together with what was parsed before it.
func ParseGoroutines(r io.Reader, opts ParseOptions) (*GoroutineDump, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxFrames <= 0 {
		opts.MaxFrames = 256
	}
	lr := &io.LimitedReader{R: r, N: opts.MaxBytes + 1}
	br := bufio.NewReaderSize(lr, 64<<10)
	d := &GoroutineDump{Blocked: []BlockedCall{}}
	var g *goroutine
	finish := func() {
		if g != nil {
			d.add(g)
			g = nil
		}
	}
	var readErr error
	for {
		line, complete, err := readLine(br)
		if len(line) > 0 || complete {
			if !complete && err != nil {
				d.Truncated = true // last line cut off
			}
			if m := matchHeader(line); m != nil {
				finish()
				g = newGoroutine(m[1], m[2])
				d.Goroutines++
			} else if g != nil {
				g.addLine(line, opts.MaxFrames)
			}
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
	}
	if lr.N <= 0 {
		d.Truncated = true
	}
	if g != nil && (g.pendingFunc || (len(g.funcs) == 0 && g.createdBy == "")) {
		d.Truncated = true // the last goroutine lacks a file line, or every frame
	}
	finish()
	if readErr != nil {
		return d, fmt.Errorf("read goroutine dump: %w", readErr)
	}
	if d.Goroutines == 0 {
		return d, ErrNotGoroutineDump
	}
	return d, nil
}

// readLine returns one line without its newline; complete is false when the
// input ended (or failed) before a newline. Lines longer than 64 KiB are cut:
// no frame of a real dump is that long.
func readLine(br *bufio.Reader) (line []byte, complete bool, err error) {
	line, err = br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		kept := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull { // discard the rest of the long line
			_, err = br.ReadSlice('\n')
		}
		if err == nil {
			return kept, true, nil
		}
		return kept, false, err
	}
	if err == nil {
		return bytes.TrimRight(line, "\r\n"), true, nil
	}
	return bytes.TrimRight(line, "\r\n"), false, err
}

// goroutine is one goroutine while it is being read.
type goroutine struct {
	id          int64
	state       string
	minutes     int
	funcs       []string // function names, top of stack first
	clientArgs  string   // arguments of the containerd/CRI client frames
	createdBy   string
	pendingFunc bool // a function line waits for its file line
}

func newGoroutine(id, status []byte) *goroutine {
	g := &goroutine{}
	g.id, _ = strconv.ParseInt(string(id), 10, 64)
	// "select, 5 minutes, locked to thread" -> state "select", 5 minutes.
	parts := strings.Split(string(status), ", ")
	g.state = parts[0]
	for _, p := range parts[1:] {
		if m := minuteRE.FindStringSubmatch(p); m != nil {
			g.minutes, _ = strconv.Atoi(m[1])
		}
	}
	return g
}

func (g *goroutine) addLine(line []byte, maxFrames int) {
	if len(line) == 0 {
		return
	}
	if line[0] == '\t' { // file:line of the previous function
		g.pendingFunc = false
		return
	}
	s := string(line)
	if strings.HasPrefix(s, "created by ") {
		name := strings.TrimPrefix(s, "created by ")
		if i := strings.Index(name, " in goroutine "); i >= 0 {
			name = name[:i]
		}
		g.createdBy = name
		g.pendingFunc = true
		return
	}
	if strings.HasPrefix(s, "...") { // "...additional frames elided..."
		return
	}
	name, args := splitFrame(s)
	if name == "" {
		return
	}
	g.pendingFunc = true
	if len(g.funcs) < maxFrames {
		g.funcs = append(g.funcs, name)
	}
	if isClientFrame(name) {
		g.clientArgs += args // request and container-id pointers differ per call
	}
}

// matchHeader is headerRE with a cheap prefix test first: most lines are frames.
func matchHeader(line []byte) [][]byte {
	if !bytes.HasPrefix(line, []byte("goroutine ")) {
		return nil
	}
	return headerRE.FindSubmatch(line)
}

// isClientFrame: a generated containerd/CRI gRPC client method or cAdvisor's
// containerd client. The substring test skips the regexps for most frames.
func isClientFrame(name string) bool {
	if !strings.Contains(name, "lient).") {
		return false
	}
	return containerdAPIRE.MatchString(name) || criRE.MatchString(name) || cadvisorClientRE.MatchString(name)
}

// splitFrame splits "pkg.(*T).M(0x1, {0x2, 0x3})" into name and arguments.
// Arguments never contain '(' so the last one opens them.
func splitFrame(s string) (name, args string) {
	i := strings.LastIndexByte(s, '(')
	if i <= 0 || !strings.HasSuffix(s, ")") {
		return "", ""
	}
	return s[:i], s[i:]
}

// add classifies a finished goroutine and keeps it if it is evidence.
func (d *GoroutineDump) add(g *goroutine) {
	if g.state == "running" || g.state == "runnable" {
		return // executing, not parked
	}
	if c, ok := g.blockedCall(); ok {
		d.Blocked = append(d.Blocked, c)
		return
	}
	if strings.Contains(g.state, "Mutex") || strings.Contains(g.state, "semacquire") || strings.Contains(g.state, "RWMutex") {
		for _, f := range g.funcs {
			if m := managerRE.FindStringSubmatch(f); m != nil {
				d.LockWaiters = append(d.LockWaiters, LockWaiter{GoroutineID: g.id, State: g.state, WaitMinutes: g.minutes, Function: m[1]})
				return
			}
		}
	}
}

// blockedCall: a goroutine with a gRPC frame above a containerd/CRI client frame.
func (g *goroutine) blockedCall() (BlockedCall, bool) {
	c := BlockedCall{GoroutineID: g.id, State: g.state, WaitMinutes: g.minutes, CreatedBy: trimPath(g.createdBy)}
	inGRPC := false
	clientAt := -1
	for i, f := range g.funcs {
		if !strings.Contains(f, "grpc") && !strings.Contains(f, "cadvisor") && !strings.Contains(f, "lient).") {
			continue
		}
		switch {
		case strings.HasPrefix(f, "google.golang.org/grpc"):
			if clientAt < 0 {
				inGRPC = true
			}
		case c.GRPCMethod == "" && containerdAPIRE.MatchString(f):
			m := containerdAPIRE.FindStringSubmatch(f)
			c.GRPCMethod = "/containerd.services." + m[1] + ".v1." + upperFirst(m[2]) + "/" + m[3]
			c.Kind = KindContainerd
			clientAt = i
		case c.GRPCMethod == "" && criRE.MatchString(f):
			m := criRE.FindStringSubmatch(f)
			c.GRPCMethod = "/runtime.v1." + upperFirst(m[1]) + "/" + m[2]
			c.Kind = KindCRI
			clientAt = i
		case c.CAdvisorMethod == "" && cadvisorClientRE.MatchString(f):
			c.CAdvisorMethod = cadvisorClientRE.FindStringSubmatch(f)[1]
			c.Kind = KindCAdvisor
			if clientAt < 0 {
				clientAt = i
			}
		case c.CAdvisorMethod != "" && c.Site == "" && cadvisorPkgRE.MatchString(f):
			c.Site = cadvisorPkgRE.FindStringSubmatch(f)[1]
		case c.Caller == "" && managerRE.MatchString(f):
			c.Caller = managerRE.FindStringSubmatch(f)[1]
		}
	}
	if !inGRPC || clientAt < 0 {
		return BlockedCall{}, false
	}
	// The frames above the client frame change while the call proceeds
	// (stream creation, sending, waiting for headers); the call path below it
	// and the client frames' argument pointers identify the call.
	c.signature = strings.Join(g.funcs[clientAt:], "\n") + "\n" + g.clientArgs
	return c, true
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// trimPath shortens "github.com/google/cadvisor/lib/manager.(*manager).watchForNewContainers"
// to "manager.(*manager).watchForNewContainers".
func trimPath(f string) string {
	if i := strings.LastIndexByte(f, '/'); i >= 0 {
		return f[i+1:]
	}
	return f
}
