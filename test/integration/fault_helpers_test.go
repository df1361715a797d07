//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the fault tests (fault_test.go).

// bulkAdd appends count events to tid through the RPC API with a few
// concurrent clients; every append must be acknowledged.
func bulkAdd(t *testing.T, n *syncNode, tid string, count int, prefix string) {
	t.Helper()
	const workers = 8
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	api := n.APIURL()
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				status, body, err := rpcPost(context.Background(), client, api, "threads/add?arg="+url.QueryEscape(tid), []byte(fmt.Sprintf("%s %05d", prefix, i)))
				if err != nil || status != http.StatusOK {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("add %d: status %d err %v body %.200s", i, status, err, body))
					mu.Unlock()
				}
			}
		}()
	}
	t0 := time.Now()
	for i := range count {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%s: bulk add: %d failures, first: %s", n.name, len(errs), errs[0])
	}
	t.Logf("%s: %d events added over RPC in %s", n.name, count, time.Since(t0).Round(time.Millisecond))
}

// rpcLogSeq returns the seq at which n holds log logID of tid, through the
// RPC API (fast enough to poll tightly); -1 when the thread or log is not
// known yet.
func rpcLogSeq(client *http.Client, n *syncNode, tid, logID string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	status, body, err := rpcPost(ctx, client, n.APIURL(), "threads/info?arg="+url.QueryEscape(tid), nil)
	if err != nil {
		return -1, err
	}
	if status != http.StatusOK {
		return -1, nil
	}
	var in threadOut
	if err := json.Unmarshal(body, &in); err != nil {
		return -1, fmt.Errorf("decode info: %s", err)
	}
	for _, l := range in.Logs {
		if l.ID == logID {
			return int64(l.Seq), nil
		}
	}
	return -1, nil
}

// logSeqs maps a node's logs of tid to their seqs.
func logSeqs(t *testing.T, n *syncNode, tid string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, l := range n.info(tid).Logs {
		m[l.ID] = l.Seq
	}
	return m
}

// threadsEndpoints lists the RPC paths of every `ipfs threads ...` command,
// from `ipfs commands`, e.g. "threads/kv/put".
func threadsEndpoints(t *testing.T, n *node) []string {
	t.Helper()
	var paths []string
	for _, line := range strings.Split(n.must("commands"), "\n") {
		line = strings.TrimSpace(line)
		if line == "ipfs threads" || strings.HasPrefix(line, "ipfs threads ") {
			paths = append(paths, strings.Join(strings.Fields(line)[1:], "/"))
		}
	}
	if len(paths) < 10 {
		t.Fatalf("ipfs commands lists only %d threads commands: %v", len(paths), paths)
	}
	return paths
}

// cmdShape is what `ipfs <cmd> --help` says of a command's arguments and
// options.
type cmdShape struct {
	required int               // required positional arguments
	options  map[string]string // option name -> type (string, int, uint64, bool)
}

// helpShape parses `ipfs <words> --help`: SYNOPSIS (required arguments are
// <x> outside [...]) and OPTIONS ("--name  type - ...").
func helpShape(t *testing.T, n *node, words []string) cmdShape {
	t.Helper()
	out := n.must(append(words, "--help")...)
	sh := cmdShape{options: map[string]string{}}
	section := ""
	var synopsis strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' {
			section = strings.TrimSpace(line)
			continue
		}
		switch section {
		case "SYNOPSIS":
			synopsis.WriteString(line + " ")
		case "OPTIONS":
			// "--limit  int - ..." or "-q, --quiet  bool - ..."
			f := strings.Fields(line)
			if len(f) >= 3 && strings.HasPrefix(f[0], "-") && strings.HasSuffix(f[0], ",") {
				f = f[1:]
			}
			if len(f) >= 2 && strings.HasPrefix(f[0], "--") {
				sh.options[strings.TrimPrefix(f[0], "--")] = f[1]
			}
		}
	}
	depth := 0
	for _, tok := range strings.Fields(synopsis.String()) {
		for _, r := range tok {
			switch r {
			case '[':
				depth++
			case ']':
				depth--
			}
		}
		if depth == 0 && strings.HasPrefix(tok, "<") && strings.HasSuffix(tok, ">") {
			sh.required++
		}
	}
	return sh
}

// rpcResult is an RPC call's outcome as the malformed-argument test judges it.
type rpcResult struct {
	status  int
	ctype   string
	body    []byte
	trailer string // X-Stream-Error
	err     error
	took    time.Duration
}

// rpcRaw POSTs to apiURL/api/v0/<pathAndQuery> with no body and reads the
// whole response (and its trailer) within d.
func rpcRaw(client *http.Client, apiURL, pathAndQuery string, d time.Duration) rpcResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/api/v0/"+pathAndQuery, nil)
	if err != nil {
		return rpcResult{err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return rpcResult{err: err, took: time.Since(t0)}
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	var rerr error
	for {
		k, e := resp.Body.Read(buf)
		sb.Write(buf[:k])
		if e != nil {
			if e.Error() != "EOF" {
				rerr = e
			}
			break
		}
	}
	return rpcResult{
		status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"),
		body: []byte(sb.String()), trailer: resp.Trailer.Get("X-Stream-Error"),
		err: rerr, took: time.Since(t0),
	}
}

// errorMessage returns the error an RPC call reported (JSON Message, plain
// text body of a request the command framework refused, or the stream's
// error trailer), or "" when it reported none.
func (r rpcResult) errorMessage() string {
	if r.status >= 400 {
		if strings.HasPrefix(r.ctype, "application/json") {
			var e rpcError
			if json.Unmarshal(r.body, &e) == nil {
				return e.Message
			}
			return ""
		}
		return strings.TrimSpace(string(r.body))
	}
	return r.trailer
}
