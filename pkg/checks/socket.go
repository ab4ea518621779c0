package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// KnownSockets are containerd's socket locations by distribution, in the
// order discovery tries them.
var KnownSockets = []string{
	"/run/containerd/containerd.sock",               // containerd default, kubeadm, kind, EKS, GKE, AKS
	"/var/run/containerd/containerd.sock",           // the same through the /var/run symlink on older hosts
	"/run/k3s/containerd/containerd.sock",           // k3s and RKE2
	"/var/snap/microk8s/common/run/containerd.sock", // microk8s
	"/run/k0s/containerd.sock",                      // k0s
}

// hostPath maps a host path to where this process sees it: under hostRoot,
// resolving symlinks inside hostRoot (an absolute link such as /var/run ->
// /run must not escape to the pod's own /run).
func hostPath(hostRoot, p string) string {
	if hostRoot == "" || hostRoot == "/" {
		return p
	}
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0 && hops < 40; {
		next := filepath.Join(cur, parts[0])
		parts = parts[1:]
		target, err := os.Readlink(filepath.Join(hostRoot, next))
		if err != nil { // not a link, or missing: keep the name as is
			cur = next
			continue
		}
		hops++
		if !filepath.IsAbs(target) {
			target = filepath.Join(cur, target)
		}
		parts = append(strings.Split(strings.TrimPrefix(filepath.Clean(target), "/"), "/"), parts...)
		cur = "/"
	}
	return filepath.Join(hostRoot, cur)
}

// discoverSocket picks the first known location that is a socket, else the
// first that exists at all (so the result says what is there instead), else
// the default.
func discoverSocket(hostRoot string) string {
	var firstExisting string
	for _, p := range KnownSockets {
		st, err := os.Stat(hostPath(hostRoot, p))
		if err != nil {
			continue
		}
		if st.Mode()&fs.ModeSocket != 0 {
			return p
		}
		if firstExisting == "" {
			firstExisting = p
		}
	}
	if firstExisting != "" {
		return firstExisting
	}
	return KnownSockets[0]
}

// fileType names a file mode as stat sees it.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "unknown file type"
}

// statSocket fills info from stat. It returns a non-empty problem (the
// Unreachable reason) when the path is missing or not a socket.
func statSocket(info *SocketInfo, openPath string) (problem string) {
	st, err := os.Stat(openPath)
	if err != nil {
		info.Error = err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("socket %s does not exist", info.Path)
		}
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Sprintf("socket %s: permission denied", info.Path)
		}
		return fmt.Sprintf("socket %s: %v", info.Path, err)
	}
	info.Exists = true
	info.Type = fileType(st.Mode())
	info.Mode = fmt.Sprintf("%04o", uint32(st.Mode().Perm()))
	info.UID, info.GID = fileOwner(st)
	if info.Type != "socket" {
		return fmt.Sprintf("socket path %s is a %s, not a socket", info.Path, info.Type)
	}
	return ""
}

// connectOutcome says what a raw unix connect showed.
type connectOutcome int

const (
	connectOK          connectOutcome = iota
	connectUnreachable                // refused, missing, permission denied
	connectFrozen                     // timed out or backlog full: something holds the socket but does not accept
)

// rawConnect dials the socket once with no gRPC on top, to time the kernel's
// accept path apart from containerd's own answer.
func rawConnect(ctx context.Context, info *SocketInfo, openPath string, timeout time.Duration) (connectOutcome, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", openPath)
	info.ConnectMs = ms(time.Since(start))
	if err == nil {
		info.PeerPID = peerPID(conn)
		conn.Close()
		return connectOK, ""
	}
	info.Error = err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return connectUnreachable, fmt.Sprintf("connection refused on %s: stale socket, no containerd listening", info.Path)
	case errors.Is(err, syscall.ENOENT):
		return connectUnreachable, fmt.Sprintf("socket %s does not exist", info.Path)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return connectUnreachable, fmt.Sprintf("permission denied connecting to %s", info.Path)
	case errors.Is(err, syscall.EAGAIN):
		return connectFrozen, fmt.Sprintf("connect to %s failed with EAGAIN: the listen backlog is full, containerd is not accepting", info.Path)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return connectFrozen, fmt.Sprintf("connect to %s timed out after %s", info.Path, timeout)
	}
	return connectUnreachable, fmt.Sprintf("connect to %s: %v", info.Path, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
