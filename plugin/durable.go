package plugin

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"

	"github.com/kubo-threads/kubo-threads/threads"
)

// blocksMount is where Kubo's blockstore keeps blocks in the repo
// datastore.
const blocksMount = "/blocks"

// blockSync chooses how the engine makes blocks durable
// (threads.Deps.SyncBlocks: with it, the engine journals new blocks with
// the head that names them and syncs them in the background), from the
// repo's datastore spec (Datastore.Spec in the Kubo config) and the repo's
// root datastore:
//
//   - blocks on flatfs opened without sync (what `ipfs init` writes): flatfs
//     neither fsyncs its block files nor does anything on Sync, so the
//     engine fsyncs the block files and their directories itself;
//   - blocks on flatfs with sync: flatfs fsyncs each write; nothing to add;
//   - blocks on another store of a mount than the engine's state: the
//     root's Sync of /blocks;
//   - one store for blocks and state (pebbleds, badgerds): nothing to add,
//     the engine's commit syncs that store after the blocks were written.
//
// It also returns a description for the log.
func blockSync(repoPath string, spec map[string]any, root ds.Datastore) (func(context.Context, []cid.Cid) error, string, error) {
	if spec["type"] != "mount" {
		return nil, fmt.Sprintf("blocks and state share one %v datastore, which the engine syncs at each commit", spec["type"]), nil
	}
	mounts, _ := spec["mounts"].([]any)
	for _, m := range mounts {
		mount, ok := m.(map[string]any)
		if !ok || mount["mountpoint"] != blocksMount {
			continue
		}
		child := unwrapSpec(mount)
		switch child["type"] {
		case "flatfs":
			if synced, _ := child["sync"].(bool); synced {
				return nil, "blocks on flatfs with sync: every block write is fsynced", nil
			}
			path, ok := child["path"].(string)
			if !ok {
				return nil, "", fmt.Errorf("datastore spec: flatfs at %s has no path", blocksMount)
			}
			if !filepath.IsAbs(path) {
				path = filepath.Join(repoPath, path)
			}
			sync, err := threads.FlatfsSync(path)
			if err != nil {
				return nil, "", err
			}
			return sync, "blocks on flatfs without sync: the engine journals each event's blocks with its head and fsyncs their files in the background", nil
		default:
			return func(ctx context.Context, _ []cid.Cid) error {
				return root.Sync(ctx, ds.NewKey(blocksMount))
			}, fmt.Sprintf("blocks on %v apart from the engine's state: the engine journals each event's blocks with its head and syncs %s in the background", child["type"], blocksMount), nil
		}
	}
	return nil, "blocks and state share the root mount's datastore, which the engine syncs at each commit", nil
}

// unwrapSpec returns the datastore a spec entry stands for, under the
// wrappers that only observe it (measure, log).
func unwrapSpec(spec map[string]any) map[string]any {
	for spec["type"] == "measure" || spec["type"] == "log" {
		child, ok := spec["child"].(map[string]any)
		if !ok {
			break
		}
		spec = child
	}
	return spec
}
