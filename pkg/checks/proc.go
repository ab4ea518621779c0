package checks

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procFS reads the host's processes from a /proc mount (with hostPID, the
// probe pod's /proc is the host's).
type procFS struct{ root string }

// process reads /proc/<pid>/stat: state, parent, threads, command name.
func (p procFS) process(pid int) (*ProcessInfo, error) {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	return parseStat(pid, string(b))
}

// parseStat parses one /proc/<pid>/stat line. The command name is in
// parentheses and may itself contain spaces and parentheses.
func parseStat(pid int, s string) (*ProcessInfo, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil, fmt.Errorf("malformed stat for pid %d", pid)
	}
	f := strings.Fields(s[end+1:])
	// f[0] state, f[1] ppid, ... f[17] num_threads (field 20 of stat).
	if len(f) < 18 {
		return nil, fmt.Errorf("short stat for pid %d", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	threads, _ := strconv.Atoi(f[17])
	return &ProcessInfo{PID: pid, PPID: ppid, State: f[0], Command: s[open+1 : end], Threads: threads}, nil
}

func (p procFS) cmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func (p procFS) comm(pid int) string {
	b, _ := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}

func (p procFS) pids() []int {
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return nil
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// listener finds the listening unix socket bound at one of paths (as the
// daemon named it) in the host's network namespace: PID 1's view first,
// since the probe pod has the host's PIDs but its own network namespace.
// It returns the socket inode and the bound path.
func (p procFS) listener(paths ...string) (inode, bound string) {
	for _, f := range []string{filepath.Join(p.root, "1", "net", "unix"), filepath.Join(p.root, "net", "unix")} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			// Num RefCount Protocol Flags Type St Inode Path
			fl := strings.Fields(sc.Text())
			if len(fl) < 8 || fl[3] != "00010000" { // __SO_ACCEPTCON: listening
				continue
			}
			for _, want := range paths {
				if fl[7] == want {
					fh.Close()
					return fl[6], fl[7]
				}
			}
		}
		fh.Close()
	}
	return "", ""
}

// socketOwner finds the process holding socket inode open, looking at
// processes whose name contains "containerd" (the daemon, or k3s).
func (p procFS) socketOwner(inode string) int {
	want := "socket:[" + inode + "]"
	for _, pid := range p.pids() {
		c := p.comm(pid)
		if !strings.Contains(c, "containerd") && !strings.HasPrefix(c, "k3s") && !strings.HasPrefix(c, "k0s") {
			continue
		}
		if strings.HasPrefix(c, "containerd-shim") {
			continue
		}
		fdDir := filepath.Join(p.root, strconv.Itoa(pid), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && l == want {
				return pid
			}
		}
	}
	return 0
}

// shim is one containerd shim process of the daemon.
type shim struct {
	pid  int
	args []string
}

// shims lists the shims whose command line names address (-address), as
// containerd starts them.
func (p procFS) shims(address string) []shim {
	var out []shim
	for _, pid := range p.pids() {
		if !strings.HasPrefix(p.comm(pid), "containerd-shim") {
			continue
		}
		args := p.cmdline(pid)
		if flagValue(args, "address") == address {
			out = append(out, shim{pid: pid, args: args})
		}
	}
	return out
}

// flagValue returns the value of -name or --name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if (a == "-"+name || a == "--"+name) && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// shimFor finds the shim serving container id: its own shim (-id id), or
// its pod sandbox's shim (CRI groups a pod's containers in one shim).
func shimFor(shims []shim, namespace string, ids ...string) *shim {
	for _, id := range ids {
		if id == "" {
			continue
		}
		for i := range shims {
			ns := flagValue(shims[i].args, "namespace")
			if flagValue(shims[i].args, "id") == id && (ns == "" || ns == namespace) {
				return &shims[i]
			}
		}
	}
	return nil
}
