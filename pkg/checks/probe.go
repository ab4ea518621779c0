package checks

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"google.golang.org/grpc"
)

// maxStuck caps Result.Stuck; the rest is counted in StuckOmitted.
const maxStuck = 1000

// Run makes the checks in order, each under its own deadline, and returns
// the result with its verdict. It never takes longer than cfg.Timeout plus
// a few milliseconds: calls stop a reserve before the deadline so that the
// evidence and the answer still fit. Once connect or Version shows the
// daemon frozen it skips the per-container sweep and answers at once.
func Run(ctx context.Context, cfg Config) Result {
	start := time.Now()
	hard := start.Add(cfg.Timeout)
	reserve := min(200*time.Millisecond, cfg.Timeout/10)
	bctx, cancel := context.WithDeadline(ctx, hard.Add(-reserve))
	defer cancel()
	p := &prober{cfg: cfg, b: budget{ctx: bctx, callTimeout: cfg.CallTimeout}, f: findings{slow: cfg.Slow}}
	p.r = Result{
		APIVersion: APIVersion, Kind: Kind, Node: cfg.Node, Namespace: cfg.Namespace,
		Calls: []CallStats{}, Stuck: []StuckCall{}, Checks: []CheckResult{},
	}
	p.run(bctx)
	if p.cadvisor != nil {
		// Bounded: every step of the check runs under bctx.
		c := <-p.cadvisor
		p.applyCadvisor(&c)
	}
	if interrupted(ctx, hard.Add(-reserve)) {
		// Interrupted (Ctrl-C, SIGTERM): whatever was cut says nothing about
		// containerd.
		p.f.inconclusive = append(p.f.inconclusive, "the probe was interrupted")
		p.f.incomplete = ""
	}
	if p.r.Socket.Type == "socket" {
		p.evidence(hard.Add(-reserve / 4))
	}
	p.r.Verdict, p.r.Reason = decide(p.f)
	p.r.DurationMs = time.Since(start).Milliseconds()
	return p.r
}

// interrupted reports whether the caller's ctx (a signal, or a deadline of
// its own earlier than ours) ended the probe, rather than --timeout. It
// reads the clock too: a context's timer may fire late.
func interrupted(ctx context.Context, ours time.Time) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && dl.Before(ours) && !time.Now().Before(dl)
}

type prober struct {
	cfg      Config
	b        budget
	r        Result
	f        findings
	openPath string
	stuck    []stuckCall
	// cadvisor delivers the check of cAdvisor's socket, when one runs.
	cadvisor chan cadvisorProbe
	// ids are the containers the kubelet's containerd listed.
	ids []string
}

func (p *prober) check(c CheckResult) { p.r.Checks = append(p.r.Checks, c) }

func (p *prober) observe(method, id string, d time.Duration) {
	if d > p.f.slowest.d {
		p.f.slowest = slowCall{method: method, id: id, d: d}
	}
}

// run makes the checks in order; each stage returns false when the verdict
// is already clear (nothing to talk to, or a frozen daemon).
func (p *prober) run(ctx context.Context) {
	p.resolve()
	if c, ok := p.cadvisorTarget(); ok {
		// cAdvisor's socket is checked beside everything else: a frozen
		// daemon there costs no time on the kubelet's side.
		ch := make(chan cadvisorProbe, 1)
		go func() { ch <- c.run(ctx) }()
		p.cadvisor = ch
	}
	if !p.socket(ctx) {
		return
	}
	conn, err := dial(p.openPath)
	if err != nil {
		p.f.inconclusive = append(p.f.inconclusive, fmt.Sprintf("create gRPC client for %s: %v", p.r.Socket.Path, err))
		return
	}
	defer conn.Close()
	if !p.liveness(ctx, conn) {
		return // frozen or not containerd: skip the sweep, answer now
	}
	// The kubelet's CRI path runs beside the sweep: a CRI-level lock then
	// costs the probe one call timeout at most, not one more.
	cri := make(chan *CRIInfo, 1)
	go func() { cri <- criCheck{conn: conn, b: p.b}.run(ctx) }()
	uuid := make(chan string, 1)
	go func() { uuid <- serverUUID(ctx, conn, p.b) }()
	p.sweep(ctx, conn)
	p.applyCRI(<-cri)
	p.r.Containerd.UUID = <-uuid
}

// resolve picks the socket to probe: --socket, else discovery.
func (p *prober) resolve() {
	path := p.cfg.Socket
	if path == "" {
		path = discoverSocket(p.cfg.HostRoot)
		p.r.Socket.Discovered = true
	}
	p.r.Socket.Path, p.r.Socket.HostRoot = path, p.cfg.HostRoot
	p.openPath = hostPath(p.cfg.HostRoot, path)
}

// cadvisorTarget is the check of the socket cAdvisor dials: the kubelet's
// --containerd flag when asked for and present, else the configured path;
// none when that is off or is the socket probed anyway.
func (p *prober) cadvisorTarget() (cadvisorCheck, bool) {
	c := cadvisorCheck{path: p.cfg.CadvisorSocket, b: p.b, source: CadvisorSourceFlag}
	if c.path == DefaultCadvisorSocket {
		c.source = CadvisorSourceDefault
	}
	c.openPath = hostPath(p.cfg.HostRoot, c.path)
	if p.cfg.CadvisorFromKubelet && c.path != "" {
		if ks, ok := kubeletContainerdFlag(procFS{root: p.cfg.Proc}, p.cfg.Node); ok {
			c.path, c.openPath, c.source, c.kubeletPID = ks.path, ks.openPath, CadvisorSourceKubeletFlag, ks.pid
		}
	}
	if c.path == "" || sameSocketPath(c.path, p.r.Socket.Path) {
		return cadvisorCheck{}, false
	}
	return c, true
}

// applyCadvisor records cAdvisor's socket, compares its daemon with the
// kubelet's, sweeps it where another daemon (or one that cannot be told
// apart) serves it, and adds the finding.
func (p *prober) applyCadvisor(c *cadvisorProbe) {
	p.check(c.check)
	if c.outcome == cadvisorOK {
		c.info.SameDaemon = sameDaemon(p.r.Containerd.UUID, p.r.Socket.PeerPID, c.info.UUID, c.info.PeerPID)
		if s := c.info.SameDaemon; s == nil || !*s {
			p.cadvisorSweep(c)
		}
	}
	info := c.info
	p.r.CadvisorSocket = &info
	oc, f := cadvisorFinding(*c, p.r.Socket.Path)
	if f == nil {
		return
	}
	p.r.Findings = append(p.r.Findings, *f)
	p.f.cadvisor, p.f.cadvisorMsg = oc, f.Message
}

// socket: stat, then a raw connect.
func (p *prober) socket(ctx context.Context) bool {
	t := time.Now()
	problem := statSocket(&p.r.Socket, p.openPath)
	sc := CheckResult{Name: "socket", Status: StatusOK, DurationMs: ms(time.Since(t)), Message: p.r.Socket.Type}
	if problem != "" {
		sc.Status, sc.Message = StatusError, problem
		p.check(sc)
		p.f.unreachable = problem
		return false
	}
	p.check(sc)
	t = time.Now()
	oc, msg := rawConnect(ctx, &p.r.Socket, p.openPath, p.cfg.CallTimeout)
	cd := time.Since(t)
	cc := CheckResult{Name: "connect", Status: StatusOK, DurationMs: ms(cd), Message: msg}
	switch oc {
	case connectUnreachable:
		cc.Status = StatusError
		p.f.unreachable = msg
	case connectFrozen:
		cc.Status = StatusTimeout
		p.f.unresponsive = msg
	default:
		p.observe("connect", "", cd)
	}
	p.check(cc)
	return oc == connectOK
}

// liveness: Version (cAdvisor's Register) and the health service.
func (p *prober) liveness(ctx context.Context, conn *grpc.ClientConn) bool {
	path := p.r.Socket.Path
	vr, vo, vmsg := versionCheck{conn: conn, b: p.b}.run(ctx, &p.r.Containerd)
	p.check(vr)
	vs := CallStats{Method: MethodVersion, Count: 1, P50Ms: vr.DurationMs, P99Ms: vr.DurationMs, MaxMs: vr.DurationMs}
	switch vo {
	case versionOK:
		vs.OK = 1
		p.observe(MethodVersion, "", time.Duration(vr.DurationMs*float64(time.Millisecond)))
	case versionUnresponsive:
		vs.Timeouts = 1
		p.f.unresponsive = vmsg + " on " + path
	case versionUnreachable:
		vs.Errors = 1
		p.f.unreachable = vmsg + " on " + path
	default:
		vs.Errors = 1
		p.f.inconclusive = append(p.f.inconclusive, vmsg)
	}
	p.r.Calls = append(p.r.Calls, vs)
	if vo != versionOK {
		return false
	}
	p.check(healthCheck(ctx, conn, p.b))
	return true
}

// sweep: the list and cAdvisor's per-container calls. The sweep starts on
// the first listed ids while the list still streams.
func (p *prober) sweep(ctx context.Context, conn *grpc.ClientConn) {
	nsctx := withNamespace(ctx, p.cfg.Namespace)
	t := time.Now()
	q := newIDQueue()
	type listed struct {
		ids   []string
		res   CheckResult
		stuck *StuckCall
	}
	lc := make(chan listed, 1)
	go func() {
		ids, res, stuck := listCheck{conn: conn, b: p.b}.run(nsctx, q)
		lc <- listed{ids, res, stuck}
	}()
	sr := newSweep(conn, p.b, p.cfg.Concurrency).run(nsctx, q)
	l := <-lc
	ids, lr, lstuck := l.ids, l.res, l.stuck
	p.ids = ids
	p.check(lr)
	p.r.Containers = len(ids)
	switch {
	case lstuck != nil && lr.Status == StatusTimeout:
		p.f.stuck = append(p.f.stuck, *lstuck)
	case lstuck != nil:
		p.f.failed = append(p.f.failed, CallStats{Method: lstuck.Method, Errors: 1, FirstError: lstuck.Error})
	case lr.Status == StatusTimeout:
		p.f.incomplete = "the container list was cut by the probe's --timeout " + p.cfg.Timeout.String()
	}
	p.r.Calls = append(p.r.Calls, sr.calls...)
	p.r.SweptContainers = sr.swept
	p.stuck = sr.stuck
	if sr.frozen != "" {
		p.f.unresponsive = sr.frozen + " on " + p.r.Socket.Path
	}
	sw := CheckResult{Name: "sweep", Status: StatusOK, DurationMs: ms(time.Since(t))}
	sw.Message = fmt.Sprintf("%d of %d containers, %d stuck calls", sr.swept, len(ids), len(sr.stuck))
	if sr.frozen != "" {
		sw.Status = StatusTimeout
		sw.Message += "; stopped: " + sr.frozen
	} else if sr.swept < len(ids) {
		sw.Status = StatusTimeout
		if p.f.incomplete == "" {
			p.f.incomplete = fmt.Sprintf("the sweep was cut by the probe's --timeout %s after %d of %d containers", p.cfg.Timeout, sr.swept, len(ids))
		}
	} else if len(sr.stuck) > 0 {
		sw.Status = StatusTimeout
	}
	for _, c := range sr.calls {
		p.observe(c.Method, c.MaxID, time.Duration(c.MaxMs*float64(time.Millisecond)))
		if c.Errors > 0 {
			p.f.failed = append(p.f.failed, c)
		}
		if c.NearLimit != "" {
			p.f.nearLimit = append(p.f.nearLimit, fmt.Sprintf("largest %s response %.1f MiB is near the %s message limit", short(c.Method), float64(c.MaxBytes)/(1<<20), c.NearLimit))
		}
	}
	if sw.Status == StatusOK && p.f.slowest.d > p.cfg.Slow {
		sw.Status = StatusSlow
	}
	p.check(sw)
	p.f.summary = fmt.Sprintf("%d containers: Version, Containers/Get and Tasks/Get all answered; slowest %s %s", len(ids), short(p.f.slowest.method), round(p.f.slowest.d))
}

// applyCRI records what the kubelet's path answered; a CRI call that hit
// its deadline while the native API answers is a finding.
func (p *prober) applyCRI(cri *CRIInfo) {
	p.r.CRI = cri
	for _, c := range cri.Calls {
		if c.Status == StatusTimeout {
			p.f.criStuck = append(p.f.criStuck, c.Name)
		}
		if c.Status == StatusOK {
			p.observe(c.Name, "", time.Duration(c.DurationMs*float64(time.Millisecond)))
		}
	}
}

// evidence reads containerd's and the stuck shims' processes from /proc,
// gives up at deadline (a /proc read can block on a process in D state),
// and then fills Stuck.
func (p *prober) evidence(deadline time.Time) {
	type ev struct {
		daemon *DaemonEvidence
		shims  []shim
		check  CheckResult
	}
	done := make(chan ev, 1)
	t := time.Now()
	// The goroutine may outlive this call (a stuck /proc read): it gets
	// copies, never p.
	procRoot, sockPath, openPath, hostRoot := p.cfg.Proc, p.r.Socket.Path, p.openPath, p.cfg.HostRoot
	go func() {
		fs := procFS{root: procRoot}
		names := []string{sockPath}
		if real, err := filepath.EvalSymlinks(openPath); err == nil && hostRoot == "" {
			names = append(names, real)
		}
		inode, bound := fs.listener(names...)
		e := ev{check: CheckResult{Name: "daemon", Status: StatusOK}}
		if inode == "" {
			e.check.Status, e.check.Message = StatusSkipped, "no listening socket "+sockPath+" in "+procRoot+"/1/net/unix"
			done <- e
			return
		}
		e.daemon = &DaemonEvidence{}
		if pid := fs.socketOwner(inode); pid > 0 {
			e.daemon.Process, _ = fs.process(pid)
		}
		e.shims = fs.shims(bound)
		e.daemon.Shims = len(e.shims)
		if pr := e.daemon.Process; pr != nil {
			e.check.Message = fmt.Sprintf("containerd pid %d state %s, %d threads, %d shims", pr.PID, pr.State, pr.Threads, len(e.shims))
		} else {
			e.check.Message = fmt.Sprintf("socket owner not found; %d shims", len(e.shims))
		}
		done <- e
	}()
	var e ev
	select {
	case e = <-done:
	case <-time.After(time.Until(deadline)):
		e.check = CheckResult{Name: "daemon", Status: StatusTimeout, Message: "reading " + p.cfg.Proc + " did not finish in time"}
	}
	e.check.DurationMs = ms(time.Since(t))
	p.check(e.check)
	p.r.Daemon = e.daemon
	if e.daemon != nil && e.daemon.Process != nil {
		p.f.daemonPID, p.f.daemonState = e.daemon.Process.PID, e.daemon.Process.State
	}

	sort.SliceStable(p.stuck, func(i, j int) bool { return p.stuck[i].ElapsedMs > p.stuck[j].ElapsedMs })
	fs := procFS{root: p.cfg.Proc}
	for i := range p.stuck {
		s := &p.stuck[i]
		if s.Method == MethodTasksGet && i < maxStuck {
			if sh := shimFor(e.shims, p.cfg.Namespace, s.ID, s.sandboxID); sh != nil {
				s.Evidence, _ = fs.process(sh.pid)
			}
		}
	}
	all := append(append([]StuckCall(nil), p.f.stuck...), flatten(p.stuck)...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].ElapsedMs > all[j].ElapsedMs })
	p.f.stuck = all
	if len(all) > maxStuck {
		p.r.StuckOmitted = len(all) - maxStuck
		all = all[:maxStuck]
	}
	p.r.Stuck = append(p.r.Stuck, all...)
}

func flatten(s []stuckCall) []StuckCall {
	out := make([]StuckCall, len(s))
	for i := range s {
		out[i] = s[i].StuckCall
	}
	return out
}
