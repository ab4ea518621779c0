package containerdlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Ctr runs ctr against this daemon in namespace k8s.io, bounded by ctx and a
// connect timeout (ctr's own dial default is 10 s and ignores --timeout).
func (d *Daemon) Ctr(ctx context.Context, args ...string) (string, error) {
	all := append([]string{"--address", d.Address, "--namespace", Namespace, "--connect-timeout", "5s"}, args...)
	out, err := exec.CommandContext(ctx, d.ctrBinary(), all...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ctrBinary is the ctr of the daemon's own version when its bin dir has one
// (hack/build-containerd2.sh builds it), else the one on PATH.
func (d *Daemon) ctrBinary() string {
	if d.binDir != "" {
		if p := filepath.Join(d.binDir, "ctr"); isExecutable(p) {
			return p
		}
	}
	return "ctr"
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// ImportImage imports an OCI image-layout tarball (and unpacks it for the
// default snapshotter) with `ctr images import`.
func (d *Daemon) ImportImage(ctx context.Context, tarball string) error {
	_, err := d.Ctr(ctx, "images", "import", tarball)
	return err
}

// RunTask runs image as container id with a real task (runc): detached, IO
// to /dev/null, under this daemon's runc root and cgroup parent, so Stop can
// find and remove all of it. args, if any, replace the image's command.
// It returns the task's (init process's) pid.
func (d *Daemon) RunTask(ctx context.Context, image, id string, args ...string) (int, error) {
	d.mu.Lock()
	d.tasks = append(d.tasks, id)
	d.mu.Unlock()
	runArgs := []string{"run", "-d", "--null-io",
		"--runc-root", d.RuncRoot,
		"--cgroup", d.CgroupParent() + "/" + id,
		image, id}
	if _, err := d.Ctr(ctx, append(runArgs, args...)...); err != nil {
		return 0, err
	}
	out, err := d.Ctr(ctx, "tasks", "ls")
	if err != nil {
		return 0, err
	}
	// TASK  PID  STATUS
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				return 0, fmt.Errorf("task %s: pid %q: %w", id, f[1], err)
			}
			d.mu.Lock()
			d.taskPIDs = append(d.taskPIDs, pid)
			d.mu.Unlock()
			return pid, nil
		}
	}
	return 0, fmt.Errorf("task %s not in ctr tasks ls:\n%s", id, out)
}

// ShimPID finds the shim serving task id of this daemon: its command line
// names this daemon's address and the id.
func (d *Daemon) ShimPID(id string) (int, error) {
	for _, p := range listProcs() {
		if !isShimOf(p.args, d.Address) || !alive(p.pid) {
			continue
		}
		for i, a := range p.args {
			if (a == "-id" || a == "--id") && i+1 < len(p.args) && p.args[i+1] == id {
				return p.pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no shim of %s serves task %s", d.Address, id)
}

// StopShim SIGSTOPs the shim of task id and waits until /proc shows it
// stopped. It returns the shim's pid.
func (d *Daemon) StopShim(id string) (int, error) {
	pid, err := d.ShimPID(id)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st := ProcState(pid); st == "T" || st == "t" {
			return pid, nil
		}
	}
	return pid, fmt.Errorf("shim pid %d not stopped (state %q)", pid, ProcState(pid))
}

// ContShim SIGCONTs the shim of task id.
func (d *Daemon) ContShim(id string) error {
	pid, err := d.ShimPID(id)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGCONT)
}
