// Package nodeapi is the threads API (commands/iface) of a node, in
// process: over its engine (threads.Service) and its views (views.Manager).
// The `ipfs threads` commands are thin over it, and so the RPC API is too.
//
// It keeps the engine's lifecycle pairs together: creating or joining a
// thread starts its views, and removing a thread drops them, recoverably
// (see lifecycle.go): Open completes what a crash interrupted.
package nodeapi

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// Deps are what the API works on.
type Deps struct {
	Threads *threads.Service
	Views   *views.Manager
	// Host is the node's libp2p host, for the addresses of its own logs;
	// nil offline.
	Host host.Host
	// Datastore keeps the API's own records (lifecycle.go); give it the
	// engine's namespace or one of its own.
	Datastore ds.Batching
}

// API is a node's threads API. The engine and the views stay the caller's
// to close.
type API struct {
	svc   *threads.Service
	views *views.Manager
	host  host.Host
	store ds.Batching
}

var _ iface.API = (*API)(nil)

// Open makes the API of a running engine: it completes the removals a crash
// interrupted, then starts the views of every thread whose read key this
// node holds (a thread created or joined just before a crash included).
func Open(ctx context.Context, deps Deps) (*API, error) {
	if deps.Threads == nil || deps.Views == nil || deps.Datastore == nil {
		return nil, errors.New("nodeapi: Threads, Views and Datastore are required")
	}
	api := &API{svc: deps.Threads, views: deps.Views, host: deps.Host, store: deps.Datastore}
	if err := api.completeRemovals(ctx); err != nil {
		return nil, err
	}
	if err := api.views.EnsureAll(); err != nil {
		return nil, fmt.Errorf("start views: %w", err)
	}
	return api, nil
}

// Threads implements iface.API.
func (api *API) Threads() iface.ThreadsAPI { return (*threadsAPI)(api) }

// Events implements iface.API.
func (api *API) Events() iface.EventsAPI { return (*eventsAPI)(api) }

// Sharing implements iface.API.
func (api *API) Sharing() iface.SharingAPI { return (*sharingAPI)(api) }

// KV implements iface.API.
func (api *API) KV() iface.KVAPI { return (*kvAPI)(api) }

// Docs implements iface.API.
func (api *API) Docs() iface.DocsAPI { return (*docsAPI)(api) }

// ACL implements iface.API.
func (api *API) ACL() iface.ACLAPI { return (*aclAPI)(api) }

// Snapshots implements iface.API.
func (api *API) Snapshots() iface.SnapshotsAPI { return (*snapshotsAPI)(api) }
