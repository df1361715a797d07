package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient talks to one daemon's RPC API (/api/v0) over HTTP.
type apiClient struct {
	base string
	http *http.Client
}

// newAPIClient takes the multiaddr of the api file (/ip4/127.0.0.1/tcp/N).
func newAPIClient(maddr string) (*apiClient, error) {
	parts := strings.Split(strings.TrimPrefix(maddr, "/"), "/")
	if len(parts) < 4 || parts[0] != "ip4" || parts[2] != "tcp" {
		return nil, fmt.Errorf("unexpected API address %q", maddr)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 128,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     30 * time.Second,
	}
	return &apiClient{base: "http://" + net.JoinHostPort(parts[1], parts[3]) + "/api/v0/", http: &http.Client{Transport: tr}}, nil
}

// rpcError is a non-2xx answer of the RPC API.
type rpcError struct {
	status int
	msg    string
}

func (e *rpcError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.msg) }

// request posts a command with its arguments and options ("name=value")
// and, when body is not nil, a file.
func (c *apiClient) request(ctx context.Context, cmd string, args []string, body []byte, opts ...string) (*http.Response, error) {
	q := url.Values{}
	for _, a := range args {
		q.Add("arg", a)
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		q.Add(k, v)
	}
	var rd io.Reader
	ctype := ""
	if body != nil {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("file", "body")
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		if _, err := fw.Write(body); err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		if err := mw.Close(); err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		rd, ctype = &buf, mw.FormDataContentType()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cmd+"?"+q.Encode(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct{ Message string }
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return nil, fmt.Errorf("%s: %w", cmd, &rpcError{status: resp.StatusCode, msg: msg})
	}
	return resp, nil
}

// call runs a command and returns its whole answer. A streamed answer can
// end with an error in the X-Stream-Error trailer, which call returns.
func (c *apiClient) call(ctx context.Context, cmd string, args []string, opts ...string) ([]byte, error) {
	resp, err := c.request(ctx, cmd, args, nil, opts...)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", cmd, err)
	}
	if e := resp.Trailer.Get("X-Stream-Error"); e != "" {
		return nil, fmt.Errorf("%s: %s", cmd, e)
	}
	return raw, nil
}

// json runs a command and decodes its (first) JSON value into v.
func (c *apiClient) json(ctx context.Context, cmd string, args []string, v any, opts ...string) error {
	raw, err := c.call(ctx, cmd, args, opts...)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(v); err != nil {
		return fmt.Errorf("%s: decode %q: %w", cmd, tail(string(raw), 200), err)
	}
	return nil
}

// addOut is the answer of threads/add.
type addOut struct {
	Cid string
	Seq uint64
	Log string
}

// add appends body to the thread through /api/v0/threads/add.
func (c *apiClient) add(ctx context.Context, tid string, body []byte) (addOut, error) {
	var out addOut
	resp, err := c.request(ctx, "threads/add", []string{tid}, body)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("threads/add: decode: %w", err)
	}
	return out, nil
}

// threadInfo is the part of threads/info the bench reads.
type threadInfo struct {
	ID   string
	Keys struct{ Log string }
	Logs []struct {
		ID  string
		Seq uint64
	}
}

// total is the number of events the node holds in the thread.
func (t threadInfo) total() uint64 {
	var n uint64
	for _, l := range t.Logs {
		n += l.Seq
	}
	return n
}

// logSeq is the seq of one log, 0 when unknown.
func (t threadInfo) logSeq(id string) uint64 {
	for _, l := range t.Logs {
		if l.ID == id {
			return l.Seq
		}
	}
	return 0
}

func (c *apiClient) info(ctx context.Context, tid string) (threadInfo, error) {
	var out threadInfo
	err := c.json(ctx, "threads/info", []string{tid}, &out)
	return out, err
}

// create makes a raw thread and returns its ID and this node's log.
func (c *apiClient) create(ctx context.Context) (tid, logID string, err error) {
	var out threadInfo
	if err := c.json(ctx, "threads/create", nil, &out); err != nil {
		return "", "", err
	}
	return out.ID, out.Keys.Log, nil
}

// share invites member to the thread on owner as a writer and has it join.
func share(ctx context.Context, owner, member *daemon, tid string, joinOpts ...string) error {
	var inv struct{ Invite string }
	if err := owner.api.json(ctx, "threads/invite", []string{tid, member.peerID}, &inv, "role=write"); err != nil {
		return fmt.Errorf("invite %s: %w", member.name, err)
	}
	if _, err := member.api.call(ctx, "threads/join", []string{inv.Invite}, joinOpts...); err != nil {
		return fmt.Errorf("%s join: %w", member.name, err)
	}
	return nil
}

// waitSeq waits until n holds log logID of the thread at seq at least.
func waitSeq(ctx context.Context, n *daemon, tid, logID string, seq uint64, d time.Duration) error {
	err := waitUntil(ctx, d, func() (bool, error) {
		in, err := n.api.info(ctx, tid)
		if err != nil {
			return false, err
		}
		return in.logSeq(logID) >= seq, nil
	})
	if err != nil {
		return fmt.Errorf("%s holding seq %d of log %s: %w", n.name, seq, logID, err)
	}
	return nil
}
