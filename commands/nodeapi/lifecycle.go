package nodeapi

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Lifecycle pairs, and what a crash between their steps leaves:
//
//   - Create (and Join) records the thread, then starts its views. The
//     thread's record is the intent: Open starts the views of every thread
//     whose read key the node holds, and every view call starts them too.
//   - Remove forgets the thread, then drops its views. A crash in between
//     would leave the views behind with nothing to find them by, so Remove
//     first records its intent (removeKey, synced), and Open completes every
//     removal so recorded.
//
// Stored keys, under the API's datastore (version 1 of this layout):
//
//	/lifecycle/v1/remove/<thread>   a removal under way (empty value)
const removePrefix = "/lifecycle/v1/remove"

func removeKey(tid ipel.ThreadID) ds.Key {
	return ds.NewKey(removePrefix).ChildString(tid.String())
}

// removeStep is one step of a removal; removeSteps runs them in order.
type removeStep func(ctx context.Context, api *API, tid ipel.ThreadID) error

// removeSteps are the steps of Remove, after the thread is known to exist.
// A crash after any of them leaves the thread whole (none ran) or ends with
// it gone, views included, once the node starts again. Every step may run
// again; a service that keeps state per thread (webhooks) adds a step of its
// own before clearRemoval.
var removeSteps = []removeStep{
	recordRemoval,
	forgetThread,
	dropViews,
	clearRemoval,
}

func recordRemoval(ctx context.Context, api *API, tid ipel.ThreadID) error {
	key := removeKey(tid)
	if err := api.store.Put(ctx, key, nil); err != nil {
		return fmt.Errorf("record the removal of %s: %w", tid, err)
	}
	if err := api.store.Sync(ctx, key); err != nil {
		return fmt.Errorf("record the removal of %s: %w", tid, err)
	}
	return nil
}

// forgetThread removes the thread from the engine; a thread already gone
// (a removal completed again) is not an error.
func forgetThread(ctx context.Context, api *API, tid ipel.ThreadID) error {
	if err := api.svc.RemoveThread(ctx, tid); err != nil && !errors.Is(err, threads.ErrThreadNotFound) {
		return err
	}
	return nil
}

func dropViews(ctx context.Context, api *API, tid ipel.ThreadID) error {
	if err := api.views.Drop(ctx, tid); err != nil {
		return fmt.Errorf("drop the views of %s: %w", tid, err)
	}
	return nil
}

func clearRemoval(ctx context.Context, api *API, tid ipel.ThreadID) error {
	if err := api.store.Delete(ctx, removeKey(tid)); err != nil {
		return fmt.Errorf("clear the removal of %s: %w", tid, err)
	}
	return nil
}

// remove removes a thread, its views included.
func (api *API) remove(ctx context.Context, tid ipel.ThreadID) error {
	if _, err := api.svc.Info(tid); err != nil {
		return err
	}
	return api.runRemoval(ctx, tid, removeSteps)
}

func (api *API) runRemoval(ctx context.Context, tid ipel.ThreadID, steps []removeStep) error {
	for _, step := range steps {
		if err := step(ctx, api, tid); err != nil {
			return err
		}
	}
	return nil
}

// clearStaleRemoval drops what an earlier removal of a thread left (its
// views), before the thread, joined again, starts new ones. A removal is
// left under way only when one of its steps failed without a crash (a
// crash is completed at start); the node's next start must not take the
// thread joined since for it.
func (api *API) clearStaleRemoval(ctx context.Context, tid ipel.ThreadID) error {
	has, err := api.store.Has(ctx, removeKey(tid))
	if err != nil || !has {
		return err
	}
	return api.runRemoval(ctx, tid, []removeStep{dropViews, clearRemoval})
}

// completeRemovals completes the removals a crash interrupted: each
// recorded one runs again from the start (every step may run twice).
func (api *API) completeRemovals(ctx context.Context) error {
	res, err := api.store.Query(ctx, dsq.Query{Prefix: removePrefix, KeysOnly: true})
	if err != nil {
		return fmt.Errorf("list removals under way: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return fmt.Errorf("list removals under way: %w", err)
	}
	for _, e := range entries {
		name := ds.RawKey(e.Key).BaseNamespace()
		tid, err := ipel.ParseThreadID(name)
		if err != nil {
			return fmt.Errorf("removal under way of %q: %w", name, err)
		}
		if err := api.runRemoval(ctx, tid, removeSteps); err != nil {
			return fmt.Errorf("complete the removal of %s: %w", tid, err)
		}
	}
	return nil
}
