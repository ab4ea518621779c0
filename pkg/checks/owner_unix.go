//go:build unix

package checks

import (
	"io/fs"
	"syscall"
)

// fileOwner returns the uid and gid of a stat result.
func fileOwner(st fs.FileInfo) (uid, gid *uint32) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, nil
	}
	u, g := sys.Uid, sys.Gid
	return &u, &g
}
