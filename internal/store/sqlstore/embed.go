package sqlstore

import (
	"io/fs"
)

// SubFS returns the migrations directory of an embedded file system.
func SubFS(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, which is a constant.
		panic(err)
	}
	return sub
}
