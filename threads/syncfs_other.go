//go:build !linux

package threads

import "errors"

// syncFS is syncfs(2), which only Linux has.
func syncFS(string) error { return errors.ErrUnsupported }

const haveSyncFS = false
