//go:build linux

package threads

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every file and directory of the filesystem that holds dir,
// with syncfs(2): one call in place of many fsyncs.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

const haveSyncFS = true
