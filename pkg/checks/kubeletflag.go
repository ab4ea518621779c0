package checks

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Sources of the cAdvisor socket path (CadvisorSocketInfo.Source).
const (
	// CadvisorSourceDefault: cAdvisor's built-in default, what every
	// kubelet >= 1.37 dials (the --containerd flag is gone).
	CadvisorSourceDefault = "default"
	// CadvisorSourceKubeletFlag: the --containerd flag on this node's
	// kubelet command line (kubelets before 1.37 accepted it).
	CadvisorSourceKubeletFlag = "kubelet --containerd flag"
	// CadvisorSourceFlag: the probe's --cadvisor-socket, as given.
	CadvisorSourceFlag = "--cadvisor-socket"
)

// kubeletSocket is a socket path found on the kubelet's command line, and
// where this process can open it: through /proc/<pid>/root, the kubelet's
// own view of the filesystem, which needs no mount in the probe pod and is
// right even when the kubelet runs in a mount namespace of its own.
type kubeletSocket struct {
	pid      int
	path     string
	openPath string
	// hostname is the kubelet's --hostname-override, to tell several
	// kubelets on one host apart.
	hostname string
}

// kubeletContainerdFlag looks for this node's kubelet among the host's
// processes and returns the value of its --containerd flag. Kubelets before
// 1.37 registered cAdvisor's flags, so distributions could point the
// embedded cAdvisor at their own socket with it (1.37 refuses the flag).
// Where several kubelets run (test clusters on one host), the one whose
// --hostname-override is node is this node's; when that cannot be told, or
// no kubelet has the flag, ok is false and cAdvisor's default stands.
func kubeletContainerdFlag(p procFS, node string) (s kubeletSocket, ok bool) {
	var candidates []kubeletSocket
	for _, pid := range p.pids() {
		if p.comm(pid) != "kubelet" {
			continue
		}
		args := p.cmdline(pid)
		candidates = append(candidates, kubeletSocket{pid: pid, path: strings.TrimPrefix(flagValue(args, "containerd"), "unix://"),
			hostname: flagValue(args, "hostname-override")})
	}
	pick := -1
	switch {
	case len(candidates) == 1:
		pick = 0
	case node != "":
		for i, c := range candidates {
			if c.hostname == node {
				if pick >= 0 {
					return kubeletSocket{}, false // two kubelets claim the node
				}
				pick = i
			}
		}
	}
	if pick < 0 || candidates[pick].path == "" || !filepath.IsAbs(candidates[pick].path) {
		return kubeletSocket{}, false
	}
	s = candidates[pick]
	s.openPath = filepath.Join(p.root, strconv.Itoa(s.pid), "root", s.path)
	return s, true
}
