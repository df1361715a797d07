package plugin

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/mount"
	flatfs "github.com/ipfs/go-ds-flatfs"
	"github.com/ipfs/kubo/config"
)

// specOf is a profile's datastore spec as the daemon reads it from the
// config file.
func specOf(t *testing.T, profile string) map[string]any {
	t.Helper()
	cfg := &config.Config{}
	if err := config.Profiles[profile].Transform(cfg); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg.Datastore.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

// syncCounter counts the syncs of a datastore.
type syncCounter struct {
	ds.Datastore
	syncs []string
}

func (s *syncCounter) Sync(ctx context.Context, k ds.Key) error {
	s.syncs = append(s.syncs, k.String())
	return s.Datastore.Sync(ctx, k)
}

func TestBlockSyncFollowsTheRepoLayout(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		profile string
		files   bool // the engine fsyncs flatfs block files itself
	}{
		{"flatfs", true},
		{"flatfs-measure", true},
		{"flatfs-pebbleds", true},
		{"flatfs-pebbleds-measure", true},
		{"pebbleds", false},
		{"pebbleds-measure", false},
		{"badgerds", false},
	} {
		repo := t.TempDir()
		spec := specOf(t, tc.profile)
		if tc.files {
			// Without the flatfs directory the engine cannot start.
			if _, _, err := blockSync(repo, spec, ds.NewMapDatastore()); err == nil {
				t.Fatalf("%s: no error without the flatfs directory", tc.profile)
			}
			fs, err := flatfs.CreateOrOpen(filepath.Join(repo, "blocks"), flatfs.NextToLast(2), false)
			if err != nil {
				t.Fatal(err)
			}
			_ = fs.Close()
		}
		sync, how, err := blockSync(repo, spec, ds.NewMapDatastore())
		if err != nil {
			t.Fatalf("%s: %v", tc.profile, err)
		}
		if (sync != nil) != tc.files {
			t.Fatalf("%s: sync %v (%s)", tc.profile, sync != nil, how)
		}
		if sync != nil {
			// It looks for the block files: a block not stored fails.
			if err := sync(ctx, []cid.Cid{cid.MustParse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")}); err == nil {
				t.Fatalf("%s: a block that is not stored was synced", tc.profile)
			}
		}
	}

	// flatfs opened with sync fsyncs every write itself.
	spec := specOf(t, "flatfs")
	for _, m := range spec["mounts"].([]any) {
		if m := m.(map[string]any); m["mountpoint"] == "/blocks" {
			m["sync"] = true
		}
	}
	if sync, how, err := blockSync(t.TempDir(), spec, ds.NewMapDatastore()); err != nil || sync != nil {
		t.Fatalf("flatfs with sync: %v %v (%s)", sync != nil, err, how)
	}

	// Blocks on a store apart from the engine's state, other than flatfs:
	// the root's Sync of /blocks reaches it.
	blocksStore := &syncCounter{Datastore: ds.NewMapDatastore()}
	root := mount.New([]mount.Mount{
		{Prefix: ds.NewKey("/blocks"), Datastore: blocksStore},
		{Prefix: ds.NewKey("/"), Datastore: ds.NewMapDatastore()},
	})
	spec = map[string]any{"type": "mount", "mounts": []any{
		map[string]any{"mountpoint": "/blocks", "type": "measure", "prefix": "badger.datastore", "child": map[string]any{"type": "badgerds", "path": "badgerds"}},
		map[string]any{"mountpoint": "/", "type": "levelds", "path": "datastore"},
	}}
	sync, how, err := blockSync(t.TempDir(), spec, root)
	if err != nil || sync == nil {
		t.Fatalf("badger blocks: %v %v (%s)", sync != nil, err, how)
	}
	if err := sync(ctx, nil); err != nil || len(blocksStore.syncs) != 1 {
		t.Fatalf("sync of the blocks store: %v %v", err, blocksStore.syncs)
	}
}
