//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Leftovers lists what cluster name left on the machine: its state
// directory, network namespaces, cgroups in any hierarchy, mounts under its
// state directory, and processes in its cgroups. Empty means clean.
func Leftovers(name string) []string {
	var left []string
	state := filepath.Join(stateRoot(), name)
	if _, err := os.Stat(state); err == nil {
		left = append(left, "state dir "+state)
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			if n := e.Name(); n == name+"-cp" || strings.HasPrefix(n, name+"-node-") {
				left = append(left, "netns "+n)
			}
		}
	}
	for _, h := range cgroupMounts() {
		if _, err := os.Stat(filepath.Join(h, name)); err == nil {
			left = append(left, "cgroup "+filepath.Join(h, name))
		}
	}
	if f, err := os.Open("/proc/self/mounts"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 1 &&
				(fields[1] == state || strings.HasPrefix(fields[1], state+"/")) {
				left = append(left, "mount "+fields[1])
			}
		}
		f.Close()
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err == nil && strings.Contains(string(cg), ":/"+name+"/") && !zombie(pid) {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			left = append(left, fmt.Sprintf("process %d (%s)", pid, strings.TrimSpace(string(comm))))
		}
	}
	return left
}

// cgroupMounts lists the mount points of every cgroup (v1) and cgroup2
// filesystem.
func cgroupMounts() []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 2 && (fields[2] == "cgroup" || fields[2] == "cgroup2") {
			out = append(out, fields[1])
		}
	}
	return out
}

// zombie is true for a process that has exited and waits for its parent
// (init, for daemonized shims) to reap it: it holds nothing but its PID.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone meanwhile
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}
