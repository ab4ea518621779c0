// Package checks holds the node-side checks: the calls cAdvisor makes to
// containerd, each made under a deadline, and the verdict they add up to.
//
// A sick runtime is a Result; a Go error from this package means the probe
// itself failed. The package imports no client-go, cobra or report code: it
// runs inside the probe pod and directly on a node.
package checks

// APIVersion and Kind identify a serialized Result. `check` refuses a
// termination message or log that does not carry both.
const (
	APIVersion = "cadvisor-doctor.io/v1alpha1"
	Kind       = "ProbeResult"
)

// Verdict is the probe's answer for one node. The strings are part of the
// JSON contract: never rename one.
type Verdict string

const (
	// Healthy: everything answered under --slow.
	Healthy Verdict = "Healthy"
	// Slow: everything answered, some calls above --slow.
	Slow Verdict = "Slow"
	// AtRisk: at least one call cAdvisor makes hit its deadline, or a shim is
	// stuck, while the daemon still answers other calls.
	AtRisk Verdict = "AtRisk"
	// Unresponsive: the socket accepts connections but the daemon does not
	// answer Version.
	Unresponsive Verdict = "Unresponsive"
	// Unreachable: socket missing, refused, not a socket, or permission denied.
	Unreachable Verdict = "Unreachable"
	// Inconclusive: the probe could not decide (for example its own deadline
	// ran out mid-sweep).
	Inconclusive Verdict = "Inconclusive"
)

// Result is what one probe run found on one node.
type Result struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Node       string  `json:"node,omitempty"`
	Verdict    Verdict `json:"verdict"`
	// Reason is one line naming the culprit (container id, path, call).
	Reason     string         `json:"reason"`
	Socket     SocketInfo     `json:"socket"`
	Containerd ContainerdInfo `json:"containerd"`
	Namespace  string         `json:"namespace"`
	// Containers is how many containers the streaming list returned in
	// Namespace.
	Containers int `json:"containers"`
	// SweptContainers is how many of them the sweep reached before the
	// probe's own --timeout; less than Containers means an incomplete sweep.
	SweptContainers int         `json:"sweptContainers"`
	Calls           []CallStats `json:"calls"`
	Stuck           []StuckCall `json:"stuck"`
	// StuckOmitted counts stuck calls left out of Stuck to keep the result
	// small (the termination message holds at most 4 KiB).
	StuckOmitted int `json:"stuckOmitted,omitempty"`
	// CRI is the kubelet's path: the CRI runtime service on the same socket.
	CRI *CRIInfo `json:"cri,omitempty"`
	// Daemon is process evidence from /proc, where the host's /proc is visible.
	Daemon *DaemonEvidence `json:"daemon,omitempty"`
	// CadvisorSocket is the socket cAdvisor dials, where it is not Socket
	// (--cadvisor-socket); nil when not checked.
	CadvisorSocket *CadvisorSocketInfo `json:"cadvisorSocket,omitempty"`
	// Findings are what the node's setup gets wrong beside the stall
	// checks, each with a stable code (CADVISOR_SOCKET_...).
	Findings []Finding `json:"findings,omitempty"`
	// Checks lists each check in the order it ran.
	Checks     []CheckResult `json:"checks"`
	DurationMs int64         `json:"durationMs"`
}

// SocketInfo is what stat and a raw unix connect said about the socket.
type SocketInfo struct {
	Path string `json:"path"`
	// HostRoot is the --host-root prefix under which Path was opened.
	HostRoot string `json:"hostRoot,omitempty"`
	// Discovered is true when Path came from the list of known locations
	// rather than --socket.
	Discovered bool `json:"discovered,omitempty"`
	Exists     bool `json:"exists"`
	// Type is "socket", "directory", "regular file", "symlink", ... as stat saw it.
	Type string `json:"type,omitempty"`
	// Mode is the permission bits in octal, e.g. "0660".
	Mode      string  `json:"mode,omitempty"`
	UID       *uint32 `json:"uid,omitempty"`
	GID       *uint32 `json:"gid,omitempty"`
	ConnectMs float64 `json:"connectMs,omitempty"`
	// PeerPID is the pid that accepted the raw connect (SO_PEERCRED), in the
	// probe's pid namespace; 0 when unknown.
	PeerPID int `json:"peerPid,omitempty"`
	// Error is the stat or connect error, if any.
	Error string `json:"error,omitempty"`
}

// ContainerdInfo is what the Version call (and introspection, where asked)
// returned.
type ContainerdInfo struct {
	Version   string  `json:"version,omitempty"`
	Revision  string  `json:"revision,omitempty"`
	UUID      string  `json:"uuid,omitempty"`
	VersionMs float64 `json:"versionMs,omitempty"`
}

// CallStats summarizes every call of one gRPC method.
type CallStats struct {
	// Method is the full gRPC method, e.g. /containerd.services.tasks.v1.Tasks/Get.
	Method   string  `json:"method"`
	Count    int     `json:"count"`
	OK       int     `json:"ok"`
	Timeouts int     `json:"timeouts"`
	Errors   int     `json:"errors"`
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
	MaxMs    float64 `json:"maxMs"`
	// MaxBytes is the largest response seen; NearLimit names the message
	// limit (4 MiB or 16 MiB) it comes close to, if any.
	MaxBytes  int    `json:"maxBytes,omitempty"`
	NearLimit string `json:"nearLimit,omitempty"`
	// NotFound counts calls answered NotFound (included in OK): Tasks/Get
	// of a container that has no task.
	NotFound int `json:"notFound,omitempty"`
	// Unknown counts Tasks/Get answers with task status UNKNOWN (included in
	// OK, and each one is also in Stuck): containerd < 2.3 answers so when the
	// shim does not answer within its 2 s task-state timeout.
	Unknown int `json:"unknown,omitempty"`
	// MaxID is the container id of the slowest call.
	MaxID string `json:"maxId,omitempty"`
	// FirstError and FirstErrorID are the first non-timeout error and the
	// container id it was for.
	FirstError   string `json:"firstError,omitempty"`
	FirstErrorID string `json:"firstErrorId,omitempty"`
}

// StuckCall is one call that hit its deadline, or a task reported UNKNOWN.
type StuckCall struct {
	Method    string  `json:"method"`
	ID        string  `json:"id,omitempty"`
	ElapsedMs float64 `json:"elapsedMs"`
	Error     string  `json:"error"`
	// Evidence is the shim process, where the host's /proc is visible.
	Evidence *ProcessInfo `json:"evidence,omitempty"`
}

// ProcessInfo is one process as /proc shows it.
type ProcessInfo struct {
	PID     int    `json:"pid"`
	PPID    int    `json:"ppid"`
	State   string `json:"state"` // R, S, D, T, Z ...
	Command string `json:"command,omitempty"`
	Threads int    `json:"threads,omitempty"`
}

// CRIInfo is what the kubelet's path (CRI runtime service) answered.
type CRIInfo struct {
	RuntimeName    string        `json:"runtimeName,omitempty"`
	RuntimeVersion string        `json:"runtimeVersion,omitempty"`
	Ready          *bool         `json:"ready,omitempty"`
	Sandboxes      int           `json:"sandboxes"`
	Containers     int           `json:"containers"`
	Calls          []CheckResult `json:"calls"`
}

// DaemonEvidence is containerd's process as /proc shows it.
type DaemonEvidence struct {
	Process *ProcessInfo `json:"process,omitempty"`
	Shims   int          `json:"shims"`
}

// Status is the outcome of one check.
type Status string

const (
	StatusOK      Status = "OK"
	StatusSlow    Status = "Slow"
	StatusTimeout Status = "Timeout"
	StatusError   Status = "Error"
	StatusSkipped Status = "Skipped"
)

// CheckResult is one check's outcome, in the order checks ran.
type CheckResult struct {
	Name       string  `json:"name"`
	Status     Status  `json:"status"`
	DurationMs float64 `json:"durationMs"`
	Message    string  `json:"message,omitempty"`
}

// CadvisorSocketInfo is what the probe found at the socket cAdvisor dials.
type CadvisorSocketInfo struct {
	Path string `json:"path"`
	// Source says where Path came from: CadvisorSourceDefault,
	// CadvisorSourceKubeletFlag (with KubeletPID) or CadvisorSourceFlag.
	Source     string `json:"source,omitempty"`
	KubeletPID int    `json:"kubeletPid,omitempty"`
	Exists     bool   `json:"exists"`
	Type       string `json:"type,omitempty"`
	Error      string `json:"error,omitempty"`
	// Version and UUID are what the daemon there answered (Version, and
	// introspection's Server).
	Version string `json:"version,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	PeerPID int    `json:"peerPid,omitempty"`
	// SameDaemon says whether the kubelet's socket is served by the same
	// daemon (by UUID, else by peer pid); nil when it cannot be told.
	SameDaemon *bool `json:"sameDaemon,omitempty"`
	// Sweep is what cAdvisor's own calls (Containers/Get, then Tasks/Get,
	// for the containers of the kubelet's containerd) met on this socket,
	// made when another daemon, or one that could not be told apart,
	// serves it; nil when not made.
	Sweep *CadvisorSweep `json:"sweep,omitempty"`
}

// CadvisorSweep is the stall check made on cAdvisor's socket.
type CadvisorSweep struct {
	// Containers is how many ids were asked (the kubelet's containerd's
	// list: the cgroups cAdvisor sees); Swept how many got all their calls.
	Containers int         `json:"containers"`
	Swept      int         `json:"swept"`
	Calls      []CallStats `json:"calls"`
	// Stuck counts the calls that hit their deadline; FirstStuck is the
	// longest.
	Stuck      int        `json:"stuck"`
	FirstStuck *StuckCall `json:"firstStuck,omitempty"`
	// Frozen is set when the daemon stopped answering Version mid-sweep.
	Frozen string `json:"frozen,omitempty"`
}

// Finding is one problem with a stable code and a one-line message naming
// the paths involved.
type Finding struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
