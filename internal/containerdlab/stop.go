package containerdlab

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stop stops the daemon and removes everything it left: its shims (only
// those whose command line names this daemon's address), runc containers
// under its own runc root, mounts under its dir (deepest first), its
// cgroups and its dir. It is idempotent.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	d.mu.Unlock()

	var errs []error
	if d.cmd != nil {
		// A stopped daemon ignores SIGTERM until continued.
		_ = syscall.Kill(d.PID, syscall.SIGCONT)
		_ = syscall.Kill(d.PID, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(d.PID, syscall.SIGKILL)
			select {
			case <-d.done:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("containerd pid %d survived SIGKILL", d.PID))
			}
		}
	}
	errs = append(errs, d.killShims()...)
	errs = append(errs, d.deleteRuncContainers()...)
	errs = append(errs, d.unmountAll()...)
	errs = append(errs, d.removeCgroups()...)
	d.removeShimSockets()
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Leftovers lists anything of this daemon that is still there: call it after
// Stop. Zombies count as gone (PID 1 here reaps orphans 1-2 s late).
func (d *Daemon) Leftovers() []string {
	var left []string
	if d.PID > 0 && alive(d.PID) {
		left = append(left, fmt.Sprintf("containerd pid %d", d.PID))
	}
	for _, pid := range d.ShimPIDs() {
		left = append(left, fmt.Sprintf("shim pid %d", pid))
	}
	d.mu.Lock()
	for _, pid := range d.taskPIDs {
		if alive(pid) {
			left = append(left, fmt.Sprintf("task pid %d", pid))
		}
	}
	d.mu.Unlock()
	for _, m := range mountsUnder(d.Dir) {
		left = append(left, "mount "+m)
	}
	for _, c := range d.cgroupDirs() {
		left = append(left, "cgroup "+c)
	}
	if _, err := os.Stat(d.Dir); err == nil {
		left = append(left, "dir "+d.Dir)
	}
	return left
}

// ShimPIDs lists live shims whose command line names this daemon's address.
func (d *Daemon) ShimPIDs() []int {
	var pids []int
	for _, p := range listProcs() {
		if isShimOf(p.args, d.Address) && alive(p.pid) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

func isShimOf(args []string, addr string) bool {
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
		return false
	}
	for i, a := range args {
		if (a == "-address" || a == "--address") && i+1 < len(args) && args[i+1] == addr {
			return true
		}
	}
	return false
}

func (d *Daemon) killShims() []error {
	var errs []error
	pids := d.ShimPIDs()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			errs = append(errs, fmt.Errorf("shim pid %d survived SIGKILL", pid))
		}
	}
	return errs
}

func (d *Daemon) deleteRuncContainers() []error {
	// The runc shim uses <runc root>/<namespace> as runc's --root, with one
	// dir per container below it.
	nss, err := os.ReadDir(d.RuncRoot)
	if err != nil {
		return nil
	}
	var errs []error
	for _, ns := range nss {
		root := filepath.Join(d.RuncRoot, ns.Name())
		ids, err := os.ReadDir(root)
		if err != nil || !ns.IsDir() {
			continue
		}
		for _, id := range ids {
			if !id.IsDir() {
				continue
			}
			out, err := exec.Command("runc", "--root", root, "delete", "-f", id.Name()).CombinedOutput()
			if err != nil {
				errs = append(errs, fmt.Errorf("runc --root %s delete -f %s: %w: %s", root, id.Name(), err, strings.TrimSpace(string(out))))
			}
		}
	}
	return errs
}

func (d *Daemon) unmountAll() []error {
	var errs []error
	// Mounts can stack: repeat until nothing under Dir is mounted.
	for range 5 {
		ms := mountsUnder(d.Dir)
		if len(ms) == 0 {
			return nil
		}
		sort.Slice(ms, func(i, j int) bool { return strings.Count(ms[i], "/") > strings.Count(ms[j], "/") })
		for _, m := range ms {
			if err := syscall.Unmount(m, 0); err != nil {
				_ = syscall.Unmount(m, syscall.MNT_DETACH)
			}
		}
	}
	for _, m := range mountsUnder(d.Dir) {
		errs = append(errs, fmt.Errorf("still mounted: %s", m))
	}
	return errs
}

// mountsUnder lists mount points at or below dir, from /proc/self/mountinfo.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// CgroupParent is the cgroup path under which RunTask puts its tasks.
func (d *Daemon) CgroupParent() string { return "/" + d.Name }

// cgroupDirs finds this daemon's cgroup dirs in every hierarchy (v1: one per
// controller; v2: the unified one), deepest first.
func (d *Daemon) cgroupDirs() []string {
	var dirs []string
	roots := []string{"/sys/fs/cgroup"}
	if entries, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
			}
		}
	}
	for _, r := range roots {
		top := filepath.Join(r, d.Name)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		_ = filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}

func (d *Daemon) removeCgroups() []error {
	var errs []error
	// Whatever still runs in this daemon's own cgroups is ours by
	// construction (runc delete may have failed): kill it by pid.
	var pids []int
	for _, c := range d.cgroupDirs() {
		b, _ := os.ReadFile(filepath.Join(c, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, c := range d.cgroupDirs() {
		var err error
		// A cgroup whose last task just died can be busy for a moment.
		for range 50 {
			if err = syscall.Rmdir(c); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", c, err))
		}
	}
	return errs
}

// removeShimSockets removes the shim sockets of the tasks this harness
// started: they live in the shared /run/containerd/s/, named by a hash of
// this daemon's address, namespace and task id, and a SIGKILLed shim leaves
// its socket behind.
func (d *Daemon) removeShimSockets() {
	d.mu.Lock()
	ids := append([]string(nil), d.tasks...)
	d.mu.Unlock()
	for _, id := range ids {
		for _, p := range []string{filepath.Join(d.Address, Namespace, id), filepath.Join(d.Address, Namespace, id, "debug")} {
			sum := sha256.Sum256([]byte(p))
			_ = os.Remove(filepath.Join("/run/containerd/s", fmt.Sprintf("%x", sum)))
		}
	}
}

type proc struct {
	pid  int
	args []string
}

func listProcs() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		out = append(out, proc{pid: pid, args: strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")})
	}
	return out
}

// ProcState is the one-letter state of pid from /proc/<pid>/stat ("" when
// the process is gone).
func ProcState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func alive(pid int) bool {
	st := ProcState(pid)
	return st != "" && st != "Z" && st != "X"
}
