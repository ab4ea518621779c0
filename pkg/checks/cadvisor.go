package checks

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	introspectionapi "github.com/containerd/containerd/api/services/introspection/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// DefaultCadvisorSocket is the socket cAdvisor (standalone and inside the
// kubelet) dials: its --containerd default, which Kubernetes 1.37 no longer
// lets distributions change.
const DefaultCadvisorSocket = "/run/containerd/containerd.sock"

// Finding codes of the probe. They are part of the JSON contract: add new
// ones, never rename or reuse one.
const (
	// CodeCadvisorSocketMissing: nothing at the path cAdvisor dials, so the
	// kubelet's cAdvisor has no containerd view (no image/name labels).
	CodeCadvisorSocketMissing = "CADVISOR_SOCKET_MISSING"
	// CodeCadvisorSocketUnreachable: the path exists but is not a socket,
	// refuses connections, is not permitted, or Version answers an error.
	CodeCadvisorSocketUnreachable = "CADVISOR_SOCKET_UNREACHABLE"
	// CodeCadvisorSocketUnresponsive: the socket accepts but connect or
	// Version hit the deadline: cAdvisor's Register call would hang there.
	CodeCadvisorSocketUnresponsive = "CADVISOR_SOCKET_UNRESPONSIVE"
	// CodeCadvisorSocketOtherDaemon: a containerd answers on cAdvisor's socket
	// but it is not the one the kubelet uses.
	CodeCadvisorSocketOtherDaemon = "CADVISOR_SOCKET_OTHER_DAEMON"
)

// cadvisorOutcome is what the check of cAdvisor's socket showed, in the
// terms the verdict needs.
type cadvisorOutcome int

const (
	cadvisorOK cadvisorOutcome = iota
	cadvisorMissing
	cadvisorUnreachable
	cadvisorUnresponsive
	cadvisorOtherDaemon
)

// cadvisorCheck looks at the socket cAdvisor dials when it is not the one
// probed: stat, a raw connect (which also reads the peer's pid), Version
// and introspection's Server UUID, each under the call deadline.
type cadvisorCheck struct {
	path       string // as the host sees it
	openPath   string // where this process opens it (under --host-root, or the kubelet's /proc/PID/root)
	source     string // CadvisorSource*
	kubeletPID int    // with CadvisorSourceKubeletFlag
	b          budget
}

// cadvisorProbe is the check's raw answer, before it is compared with the
// kubelet's socket.
type cadvisorProbe struct {
	info     CadvisorSocketInfo
	openPath string
	check    CheckResult
	outcome  cadvisorOutcome // missing, unreachable, unresponsive or OK
	problem  string
}

func (c cadvisorCheck) run(ctx context.Context) cadvisorProbe {
	start := time.Now()
	p := cadvisorProbe{info: CadvisorSocketInfo{Path: c.path, Source: c.source, KubeletPID: c.kubeletPID}, openPath: c.openPath}
	p.check = CheckResult{Name: "cadvisor-socket", Status: StatusOK}
	defer func() { p.check.DurationMs = ms(time.Since(start)) }()
	var si SocketInfo
	si.Path = c.path
	problem := statSocket(&si, c.openPath)
	p.info.Exists, p.info.Type = si.Exists, si.Type
	if problem != "" {
		p.info.Error = si.Error
		p.outcome, p.problem = cadvisorUnreachable, problem
		if !si.Exists {
			p.outcome, p.problem = cadvisorMissing, "missing"
		}
		p.check.Status, p.check.Message = StatusError, problem
		return p
	}
	oc, msg := rawConnect(ctx, &si, c.openPath, c.b.callTimeout)
	p.info.PeerPID = si.PeerPID
	if oc != connectOK {
		p.info.Error = si.Error
		p.outcome, p.problem = cadvisorUnreachable, msg
		if oc == connectFrozen {
			p.outcome = cadvisorUnresponsive
		}
		p.check.Status, p.check.Message = StatusError, msg
		if oc == connectFrozen {
			p.check.Status = StatusTimeout
		}
		return p
	}
	conn, err := dial(c.openPath)
	if err != nil {
		p.outcome, p.problem = cadvisorUnreachable, fmt.Sprintf("create gRPC client: %v", err)
		p.check.Status, p.check.Message = StatusError, p.problem
		return p
	}
	defer conn.Close()
	var ci ContainerdInfo
	vr, vo, vmsg := versionCheck{conn: conn, b: c.b}.run(ctx, &ci)
	p.info.Version = ci.Version
	switch vo {
	case versionOK:
	case versionUnresponsive:
		p.outcome, p.problem = cadvisorUnresponsive, vmsg
	default:
		p.outcome, p.problem = cadvisorUnreachable, vmsg
	}
	if vo != versionOK {
		p.info.Error = vr.Message
		p.check.Status, p.check.Message = vr.Status, vmsg
		return p
	}
	p.info.UUID = serverUUID(ctx, conn, c.b)
	p.check.Message = "containerd " + ci.Version
	return p
}

// serverUUID asks introspection for the daemon's UUID (containerd >= 1.6
// keeps one per root directory); "" when it does not answer in time or
// does not implement it.
func serverUUID(ctx context.Context, conn *grpc.ClientConn, b budget) string {
	cctx, cancel, _ := b.callCtx(ctx)
	defer cancel()
	resp, err := introspectionapi.NewIntrospectionClient(conn).Server(cctx, &emptypb.Empty{})
	if err != nil {
		return ""
	}
	return resp.GetUUID()
}

// sameDaemon compares the two sockets' daemons: by UUID when both answered
// it, else by the peer pid of the connection; nil when neither tells.
func sameDaemon(kubeletUUID string, kubeletPID int, cadvisorUUID string, cadvisorPID int) *bool {
	var same bool
	switch {
	case kubeletUUID != "" && cadvisorUUID != "":
		same = kubeletUUID == cadvisorUUID
	case kubeletPID > 0 && cadvisorPID > 0:
		same = kubeletPID == cadvisorPID
	default:
		return nil
	}
	return &same
}

// cadvisorFinding turns the check's answer, compared with the kubelet's
// socket, into the outcome and the finding (nil when there is nothing to
// say).
func cadvisorFinding(c cadvisorProbe, kubeletSocket string) (cadvisorOutcome, *Finding) {
	lead := fmt.Sprintf("cAdvisor dials %s", c.info.Path)
	tail := fmt.Sprintf("; kubelet uses %s", kubeletSocket)
	switch c.outcome {
	case cadvisorMissing:
		return c.outcome, &Finding{Code: CodeCadvisorSocketMissing, Message: lead + " (missing)" + tail + ": cAdvisor has no containerd view, container metrics lack image/name labels"}
	case cadvisorUnreachable:
		return c.outcome, &Finding{Code: CodeCadvisorSocketUnreachable, Message: lead + " (" + c.problem + ")" + tail + ": cAdvisor has no containerd view, container metrics lack image/name labels"}
	case cadvisorUnresponsive:
		return c.outcome, &Finding{Code: CodeCadvisorSocketUnresponsive, Message: lead + " (" + c.problem + ")" + tail + ": cAdvisor's calls there can hang"}
	}
	if sw := c.info.Sweep; sw != nil && (sw.Stuck > 0 || sw.Frozen != "") {
		// cAdvisor's own calls hang there: whether or not it is the
		// kubelet's daemon, the kubelet's cAdvisor blocks on them.
		what := sw.Frozen
		if w := sw.FirstStuck; w != nil {
			what = stuckText(*w)
			if sw.Stuck > 1 {
				what += fmt.Sprintf(", %d stuck calls in all", sw.Stuck)
			}
		}
		return cadvisorUnresponsive, &Finding{Code: CodeCadvisorSocketUnresponsive, Message: lead + " (" + daemonDesc(c.info) + ": " + what + ")" + tail + ": cAdvisor's calls there hang"}
	}
	if s := c.info.SameDaemon; s != nil && !*s {
		return cadvisorOtherDaemon, &Finding{Code: CodeCadvisorSocketOtherDaemon, Message: lead + " (" + daemonDesc(c.info) + ")" + tail +
			": cAdvisor reads, and can hang on, a containerd Kubernetes does not use"}
	}
	return cadvisorOK, nil
}

// daemonDesc names the daemon on cAdvisor's socket for a finding.
func daemonDesc(info CadvisorSocketInfo) string {
	who := "another containerd"
	if s := info.SameDaemon; s == nil {
		who = "a containerd not told apart from the kubelet's"
	} else if *s {
		who = "the kubelet's containerd"
	}
	if info.Version != "" {
		who += ", " + info.Version
	}
	if info.PeerPID > 0 {
		who += fmt.Sprintf(", pid %d", info.PeerPID)
	}
	return who
}

// cadvisorSweep makes cAdvisor's per-container calls on its own socket, for
// the containers the kubelet's containerd listed: those are the cgroups
// cAdvisor sees, so these are the calls it makes there. Another daemon
// answers NotFound at once; one that hangs blocks cAdvisor. It runs under
// the probe's remaining budget, after the main sweep.
func (p *prober) cadvisorSweep(c *cadvisorProbe) {
	start := time.Now()
	res := CheckResult{Name: "cadvisor-sweep", Status: StatusOK}
	defer func() {
		res.DurationMs = ms(time.Since(start))
		p.check(res)
	}()
	sw := &CadvisorSweep{Containers: len(p.ids), Calls: []CallStats{}}
	c.info.Sweep = sw
	if len(p.ids) == 0 {
		res.Status, res.Message = StatusSkipped, "no containers to ask about"
		return
	}
	conn, err := dial(c.openPath)
	if err != nil {
		res.Status, res.Message = StatusError, fmt.Sprintf("create gRPC client: %v", err)
		return
	}
	defer conn.Close()
	q := newIDQueue()
	for _, id := range p.ids {
		q.push(id)
	}
	q.close()
	ctx := withNamespace(p.b.ctx, p.cfg.Namespace)
	sr := newSweep(conn, p.b, p.cfg.Concurrency).run(ctx, q)
	sw.Swept, sw.Calls, sw.Stuck, sw.Frozen = sr.swept, sr.calls, len(sr.stuck), sr.frozen
	for i := range sr.stuck {
		if sw.FirstStuck == nil || sr.stuck[i].ElapsedMs > sw.FirstStuck.ElapsedMs {
			s := sr.stuck[i].StuckCall
			sw.FirstStuck = &s
		}
	}
	res.Message = fmt.Sprintf("%d of %d containers, %d stuck calls", sw.Swept, sw.Containers, sw.Stuck)
	switch {
	case sw.Frozen != "" || sw.Stuck > 0:
		res.Status = StatusTimeout
	case sw.Swept < sw.Containers:
		res.Status = StatusTimeout
		res.Message += "; cut by the probe's --timeout"
	}
}

// sameSocketPath reports whether two host paths name the same socket
// without a look at the filesystem (the check then is not needed).
func sameSocketPath(a, b string) bool { return filepath.Clean(a) == filepath.Clean(b) }
