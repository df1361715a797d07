package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	cmds "github.com/ipfs/go-ipfs-cmds"
	logging "github.com/ipfs/go-log/v2"
	kubocli "github.com/ipfs/kubo/cmd/ipfs/kubo"
	"github.com/ipfs/kubo/core"
	corecmds "github.com/ipfs/kubo/core/commands"
	kuboplugin "github.com/ipfs/kubo/plugin"
	"github.com/ipld/go-ipld-prime/multicodec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/nodeapi"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// Version is the plugin's version.
const Version = "0.1.0"

// datastoreNamespace is where the plugin keeps its state in the repo
// datastore.
const datastoreNamespace = "/threads"

// viewsNamespace is where views live, inside the plugin's namespace.
const viewsNamespace = "/views"

var log = logging.Logger("threads")

// apiNamespace is where the API keeps its own records (nodeapi: removals
// under way), inside the plugin's namespace.
const apiNamespace = "/api"

// Plugins is the list Kubo's loader reads (preload.list names it). The codec
// is a plugin of its own so that it stays registered, and `ipfs repo gc`
// keeps reading thread blocks, even when the threads plugin is disabled.
var Plugins = []kuboplugin.Plugin{
	&codecPlugin{},
	daemon,
}

var daemon = &threadsPlugin{}

func init() {
	root := commands.Root(daemon.backend)
	corecmds.Root.Subcommands[commands.PluginName] = root
	kubocli.Root.Subcommands[commands.PluginName] = root
	// `ipfs --help` lists its commands from a text Kubo writes by hand (the
	// CLI's root has a copy of it): list threads there too.
	desc := strings.TrimSuffix(root.Helptext.Tagline, ".")
	for _, help := range []*cmds.HelpText{&corecmds.Root.Helptext, &kubocli.Root.Helptext} {
		help.Subcommands = listInRootHelp(help.Subcommands, rootHelpGroup, commands.PluginName, desc)
	}
}

// codecPlugin registers the event block codec.
type codecPlugin struct{}

var _ kuboplugin.PluginIPLD = (*codecPlugin)(nil)

func (*codecPlugin) Name() string                       { return commands.PluginName + "-codec" }
func (*codecPlugin) Version() string                    { return Version }
func (*codecPlugin) Init(*kuboplugin.Environment) error { return nil }
func (*codecPlugin) Register(reg multicodec.Registry) error {
	codec.RegisterIPLD(reg)
	return nil
}

// threadsPlugin runs the engine inside the daemon.
type threadsPlugin struct {
	mu      sync.Mutex
	loaded  bool // Init ran: Kubo neither loads nor inits a disabled plugin
	cfg     Config
	cfgErr  error // a bad config stops the daemon, not every ipfs command
	running *engine
	stopped bool // Close ran: the daemon is shutting down
}

// engine is what runs while the daemon does: the engine, its views, and
// the API the commands work on.
type engine struct {
	threads *threads.Service
	views   *views.Manager
	api     *nodeapi.API
}

var _ kuboplugin.PluginDaemonInternal = (*threadsPlugin)(nil)

func (*threadsPlugin) Name() string    { return commands.PluginName }
func (*threadsPlugin) Version() string { return Version }

// Init reads the config. It runs in every ipfs process, so it does nothing
// else, and a bad config does not fail it: that would break every ipfs
// command, including the 'ipfs config' that mends it. Start refuses it.
func (p *threadsPlugin) Init(env *kuboplugin.Environment) error {
	cfg, err := parseConfig(env.Config)
	p.mu.Lock()
	p.loaded, p.cfg, p.cfgErr = true, cfg, err
	p.mu.Unlock()
	return nil
}

// Start opens the engine on the node's stores.
func (p *threadsPlugin) Start(node *core.IpfsNode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfgErr != nil {
		return p.cfgErr
	}
	faults, err := faultsFromEnv()
	if err != nil {
		return fmt.Errorf("start threads: %w", err)
	}
	repoCfg, err := node.Repo.Config()
	if err != nil {
		return fmt.Errorf("start threads: %w", err)
	}
	syncBlocks, how, err := blockSync(node.Repo.Path(), repoCfg.Datastore.Spec, node.Repo.Datastore())
	if err != nil {
		return fmt.Errorf("start threads: durable blocks: %w", err)
	}
	log.Info(how)
	store := namespace.Wrap(node.Repo.Datastore(), ds.NewKey(datastoreNamespace))
	svc, err := threads.New(context.Background(), threads.Deps{
		Datastore:  store,
		Blockstore: node.Blockstore,
		SyncBlocks: syncBlocks,
		Pinner:     node.Pinning,
		GCLocker:   node.GCLocker,
		Host:       node.PeerHost,
		PubSub:     node.PubSub,
		Identity:   node.PrivateKey,
		Metrics:    prometheus.DefaultRegisterer, // Kubo serves it at /debug/metrics/prometheus
		Faults:     faults,                       // testing only: see faults.go
	}, p.cfg.engine())
	if err != nil {
		return fmt.Errorf("start threads: %w", err)
	}
	mgr := views.NewManager(svc, namespace.Wrap(store, ds.NewKey(viewsNamespace)), prometheus.DefaultRegisterer)
	mgr.SnapshotInterval, mgr.AutoCompact = p.cfg.snapshotInterval(), p.cfg.AutoCompact
	// Open completes removals a crash interrupted and starts the views.
	api, err := nodeapi.Open(context.Background(), nodeapi.Deps{Threads: svc, Views: mgr, Host: node.PeerHost,
		Datastore: namespace.Wrap(store, ds.NewKey(apiNamespace))})
	if err != nil {
		_ = mgr.Close()
		_ = svc.Close()
		return fmt.Errorf("start threads: %w", err)
	}
	p.running = &engine{threads: svc, views: mgr, api: api}
	return nil
}

// Close stops the engine.
func (p *threadsPlugin) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.running == nil {
		return nil
	}
	err := errors.Join(p.running.views.Close(), p.running.threads.Close())
	p.running = nil
	return err
}

// backend is the commands' Provider. Without a running engine it tells why
// from what this process has seen of the plugin, never from the repo: a
// command run by the CLI without a daemon must fail without opening it.
//
// Kubo loads the plugins of every ipfs process, CLI or daemon, but it skips
// a disabled plugin altogether; Start runs only in the daemon.
func (p *threadsPlugin) backend() (iface.API, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.running != nil:
		return p.running.api, nil
	case !p.loaded:
		return nil, commands.ErrDisabled
	case p.stopped:
		return nil, commands.ErrStopped
	default:
		return nil, commands.ErrNoDaemon
	}
}
