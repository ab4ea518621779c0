//go:build linux

package checks

import (
	"net"
	"syscall"
)

// peerPID reads the pid of the process that accepted a unix connection
// (SO_PEERCRED), in this process's pid namespace; 0 when unknown (the
// daemon's pid namespace is not ours, or the call failed).
func peerPID(conn net.Conn) int {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
