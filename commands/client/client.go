// Package client is the threads API (commands/iface) of a running daemon,
// over its RPC API (/api/v0/threads/...). It is built on Kubo's RPC client
// (github.com/ipfs/kubo/client/rpc): the daemon is found, dialed and
// authenticated the same way, from the repo's api file
// ($IPFS_PATH/api), an API multiaddr (TCP, TLS, or a unix socket) or a URL,
// with Kubo's Authorization header support:
//
//	api, err := client.NewLocalApi()                  // $IPFS_PATH, or ~/.ipfs
//	api, err := client.NewApi(ma.StringCast("/ip4/127.0.0.1/tcp/5001"))
//	hc := &http.Client{Transport: auth.NewAuthorizedRoundTripper("Bearer s3cret", http.DefaultTransport)}
//	api, err := client.NewApiWithClient(addr, hc)      // API.Authorizations
//
// The responses are the commands' JSON (as the README documents it),
// decoded into the API's types. The daemon's errors come back as errors
// that errors.Is matches against the API's kinds (iface.ErrNotFound...) and
// sentinel errors, read from their messages (iface.ParseError), and
// errors.As gives the *cmds.Error Kubo's client returns.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	cmds "github.com/ipfs/go-ipfs-cmds"
	"github.com/ipfs/kubo/client/rpc"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// Client is the threads API of a daemon, over its RPC API.
type Client struct {
	http *rpc.HttpApi
}

var _ iface.API = (*Client)(nil)

// NewLocalApi connects to the daemon of the repo at $IPFS_PATH (~/.ipfs by
// default), whose api file holds its API address.
func NewLocalApi() (*Client, error) {
	return wrap(rpc.NewLocalApi())
}

// NewPathApi connects to the daemon of the repo at ipfspath.
func NewPathApi(ipfspath string) (*Client, error) {
	return wrap(rpc.NewPathApi(ipfspath))
}

// NewApi connects to the daemon whose API listens at a.
func NewApi(a ma.Multiaddr) (*Client, error) {
	return wrap(rpc.NewApi(a))
}

// NewApiWithClient connects to the daemon whose API listens at a, with an
// HTTP client of the caller's (an authorizing transport, timeouts).
func NewApiWithClient(a ma.Multiaddr, c *http.Client) (*Client, error) {
	return wrap(rpc.NewApiWithClient(a, c))
}

// NewURLApiWithClient connects to the daemon whose API is at url
// ("http://127.0.0.1:5001"), with an HTTP client of the caller's.
func NewURLApiWithClient(url string, c *http.Client) (*Client, error) {
	return wrap(rpc.NewURLApiWithClient(url, c))
}

// FromHttpApi makes the threads API of a Kubo RPC client, sharing its
// connection settings and headers.
func FromHttpApi(h *rpc.HttpApi) *Client {
	return &Client{http: h}
}

func wrap(h *rpc.HttpApi, err error) (*Client, error) {
	if err != nil {
		return nil, err
	}
	return FromHttpApi(h), nil
}

// HttpApi is the Kubo RPC client underneath: Kubo's own CoreAPI of the same
// daemon, and its Headers (set Authorization there, for instance).
func (c *Client) HttpApi() *rpc.HttpApi { return c.http }

// Threads implements iface.API.
func (c *Client) Threads() iface.ThreadsAPI { return (*threadsAPI)(c) }

// Events implements iface.API.
func (c *Client) Events() iface.EventsAPI { return (*eventsAPI)(c) }

// Sharing implements iface.API.
func (c *Client) Sharing() iface.SharingAPI { return (*sharingAPI)(c) }

// KV implements iface.API.
func (c *Client) KV() iface.KVAPI { return (*kvAPI)(c) }

// Docs implements iface.API.
func (c *Client) Docs() iface.DocsAPI { return (*docsAPI)(c) }

// ACL implements iface.API.
func (c *Client) ACL() iface.ACLAPI { return (*aclAPI)(c) }

// Snapshots implements iface.API.
func (c *Client) Snapshots() iface.SnapshotsAPI { return (*snapshotsAPI)(c) }

// request starts a request for `ipfs threads <cmd> <args...>`.
func (c *Client) request(cmd string, args ...string) rpc.RequestBuilder {
	return c.http.Request(commands.PluginName+"/"+cmd, args...)
}

// send sends a request and returns its response, or the daemon's error.
func send(ctx context.Context, rb rpc.RequestBuilder) (*rpc.Response, error) {
	resp, err := rb.Send(ctx)
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, remoteError(resp.Error)
	}
	return resp, nil
}

// exec sends a request and decodes its one value into out (nil: none).
func exec(ctx context.Context, rb rpc.RequestBuilder, out any) error {
	resp, err := send(ctx, rb)
	if err != nil {
		return err
	}
	defer resp.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Output).Decode(out); err != nil {
		return readError(ctx, err)
	}
	return nil
}

// each sends a request whose response is a sequence of values and calls fn
// with each, decoded.
func each[W any](ctx context.Context, rb rpc.RequestBuilder, fn func(W) error) error {
	resp, err := send(ctx, rb)
	if err != nil {
		return err
	}
	defer resp.Close()
	dec := json.NewDecoder(resp.Output)
	for {
		var w W
		if err := dec.Decode(&w); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return readError(ctx, err)
		}
		if err := fn(w); err != nil {
			return err
		}
	}
}

// rpcError is an error the daemon returned: its message, the API's errors
// it names (iface.ParseError), and Kubo's *cmds.Error.
type rpcError struct {
	parsed error
	cmds   *cmds.Error
}

func (e *rpcError) Error() string   { return e.cmds.Message }
func (e *rpcError) Unwrap() []error { return []error{e.parsed, e.cmds} }

// remoteError maps an error response to the API's errors: a client error
// (HTTP 400) is the caller's to fix.
func remoteError(e *cmds.Error) error {
	return &rpcError{parsed: iface.ParseError(e.Message, e.Code == cmds.ErrClient), cmds: e}
}

// readError is the error of reading a response: the context's when it
// ended, otherwise the error the daemon reported after it had started the
// response (Kubo's client reads it from the trailer), or the transport's.
func readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *cmds.Error
	if errors.As(err, &ce) {
		return remoteError(ce)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return remoteError(&cmds.Error{Message: err.Error()})
}
