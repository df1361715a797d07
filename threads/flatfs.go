package threads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	flatfs "github.com/ipfs/go-ds-flatfs"
	mh "github.com/multiformats/go-multihash"
)

const (
	// flatfsSyncWorkers bounds the files fsynced at once.
	flatfsSyncWorkers = 16
	// syncFSFiles is from how many files on a sync flushes the whole
	// filesystem at once (syncfs, on Linux) rather than file by file.
	syncFSFiles = 64
)

// FlatfsSync returns a Deps.SyncBlocks for a blockstore whose blocks are
// kept by go-ds-flatfs in dir (Kubo's /blocks mount) opened without sync,
// as `ipfs init` configures it: such a flatfs writes each block to a
// temporary file and renames it into place without fsync, and its Sync does
// nothing, so a power loss can lose blocks whose writes had returned. The
// returned function fsyncs each block's file, then each directory that
// holds one (the rename), and the flatfs directory itself the first time a
// shard directory is seen (its creation); from syncFSFiles blocks on, on
// Linux, it flushes the filesystem that holds dir instead (syncfs), which
// costs one call. Blocks with identity hashes are not stored, and skipped.
func FlatfsSync(dir string) (func(context.Context, []cid.Cid) error, error) {
	shard, err := flatfs.ReadShardFunc(dir)
	if err != nil {
		return nil, fmt.Errorf("flatfs at %s: %w", dir, err)
	}
	fs := &flatfsSyncer{dir: dir, shard: shard.Func(), seen: map[string]bool{}}
	return fs.sync, nil
}

type flatfsSyncer struct {
	dir   string
	shard flatfs.ShardFunc

	mu   sync.Mutex
	seen map[string]bool // shard directories whose entry was synced
}

// path is where flatfs keeps a block: <dir>/<shard>/<key>.data, with the
// key the blockstore gives the block's multihash.
func (f *flatfsSyncer) path(c cid.Cid) (string, string) {
	key := dshelp.MultihashToDsKey(c.Hash()).String()[1:]
	d := filepath.Join(f.dir, f.shard(key))
	return d, filepath.Join(d, key+".data")
}

func (f *flatfsSyncer) sync(ctx context.Context, cids []cid.Cid) error {
	var files []string
	dirs := map[string]bool{}
	for _, c := range cids {
		if c.Prefix().MhType == mh.IDENTITY {
			continue
		}
		d, p := f.path(c)
		files = append(files, p)
		dirs[d] = true
	}
	if haveSyncFS && len(files) >= syncFSFiles {
		return syncFS(f.dir)
	}
	if err := syncAll(ctx, files); err != nil {
		return err
	}
	f.mu.Lock()
	newDir := false
	for d := range dirs {
		if !f.seen[d] {
			newDir = true
		}
	}
	f.mu.Unlock()
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	if newDir {
		ds = append(ds, f.dir)
	}
	if err := syncAll(ctx, ds); err != nil {
		return err
	}
	if newDir {
		f.mu.Lock()
		for d := range dirs {
			f.seen[d] = true
		}
		f.mu.Unlock()
	}
	return nil
}

// syncAll fsyncs files (or directories), several at once.
func syncAll(ctx context.Context, paths []string) error {
	if len(paths) == 1 {
		return fsync(paths[0])
	}
	work := make(chan string)
	errs := make(chan error, len(paths))
	var wg sync.WaitGroup
	for range min(len(paths), flatfsSyncWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				errs <- fsync(p)
			}
		}()
	}
	var err error
	for _, p := range paths {
		if err = ctx.Err(); err != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil && err == nil {
			err = e
		}
	}
	return err
}

// fsync flushes a file or a directory to stable storage.
func fsync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
