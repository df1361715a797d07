package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	cmds "github.com/ipfs/go-ipfs-cmds"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// AddOutput names the appended event.
type AddOutput struct {
	Cid string
	Seq uint64
	Log string
}

func addCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Append an event to a thread.",
			ShortDescription: `
Appends the contents of a file (or of stdin, when no file is given) as one
event to this node's log of the thread, and prints the event's CID and seq.
The body is encrypted and the event signed; when the command returns, the
event is on disk. Bodies must be non-empty and at most the configured
MaxBodySize (1 MiB by default).

With --to <peer-id> the event is private: its body is sealed to that peer's
public key (an Ed25519 peer ID, which embeds it). Every member still sees
the event, its time and its recipient, and followers replicate it; only the
recipient's node reads the body, not even this one. Views ignore private
events.
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.FileArg("data", true, false, "File whose contents are the event body (stdin when omitted).").EnableStdin(),
		},
		Options: []cmds.Option{
			cmds.BoolOption("quiet", "q", "Print only the event's CID."),
			cmds.StringOption("to", "Seal the body to this peer only (an Ed25519 peer ID): a private event."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			var to peer.ID
			if s, _ := req.Options["to"].(string); s != "" {
				if to, err = peer.Decode(s); err != nil {
					return cmds.Errorf(cmds.ErrClient, "invalid --to peer ID %q: %s", s, err)
				}
			}
			body, err := readBody(req, b.Threads.Config().MaxBodySize)
			if err != nil {
				return err
			}
			if err := b.Views.CheckWrite(tid, views.RoleWrite); err != nil {
				return userError(err)
			}
			ref, err := b.Threads.AppendTo(req.Context, tid, to, body)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&AddOutput{Cid: ref.Cid.String(), Seq: ref.Seq, Log: ref.Log.String()})
		},
		Type: AddOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *AddOutput) error {
				if quiet, _ := req.Options["quiet"].(bool); quiet {
					_, err := fmt.Fprintln(w, out.Cid)
					return err
				}
				_, err := fmt.Fprintf(w, "%s %d\n", out.Cid, out.Seq)
				return err
			}),
		},
	}
}

// readBody reads the single file argument, refusing more than limit bytes.
func readBody(req *cmds.Request, limit int) ([]byte, error) {
	if req.Files == nil {
		return nil, cmds.Errorf(cmds.ErrClient, "no event body: give a file or pipe the body to stdin")
	}
	it := req.Files.Entries()
	if !it.Next() {
		if err := it.Err(); err != nil {
			return nil, err
		}
		return nil, cmds.Errorf(cmds.ErrClient, "no event body: give a file or pipe the body to stdin")
	}
	f := files.FileFromEntry(it)
	if f == nil {
		return nil, cmds.Errorf(cmds.ErrClient, "%s is a directory, not a file", it.Name())
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read event body: %w", err)
	}
	if len(body) > limit {
		return nil, cmds.Errorf(cmds.ErrClient, "%s: more than %d bytes (MaxBodySize)", threads.ErrBodyTooLarge, limit)
	}
	if len(body) == 0 {
		return nil, cmds.Errorf(cmds.ErrClient, "%s", threads.ErrEmptyBody)
	}
	return body, nil
}

// EventOutput is an event as `log` and `listen` print it. In JSON the body
// is base64. To is a private event's recipient (omitted for ordinary
// events); Private is set, and Body null, when it is sealed to another peer;
// NotAuthentic is set, and Body null, for a private event to this node
// whose sealed key was made for another event (its writer copied it).
type EventOutput struct {
	Log          string
	Seq          uint64
	Cid          string
	Time         time.Time
	Body         []byte
	To           string `json:",omitempty"`
	Private      bool   `json:",omitempty"`
	NotAuthentic bool   `json:",omitempty"`
}

func eventOutput(r threads.Record) *EventOutput {
	out := &EventOutput{Log: r.Log.String(), Seq: r.Seq, Cid: r.Cid.String(), Time: r.Time.UTC(), Body: r.Body, Private: r.Private, NotAuthentic: r.NotAuthentic}
	if r.To != "" {
		out.To = r.To.String()
	}
	return out
}

// privateMark starts the body column of a private event sealed to another
// peer, notAuthenticMark is the body column of a private event that is not
// authentic; a body that starts like either is quoted.
const (
	privateMark      = "(private to "
	notAuthenticMark = "(not authentic: a private event sealed for another event)"
)

// eventTextEncoder prints one line an event: log, seq, CID, time, body. A
// body that is not printable UTF-8 on one line, or that starts with a quote
// or with a mark, is quoted. A private event for another peer shows
// "(private to <peer>)" in place of its body, one that is not authentic
// the not-authentic mark.
var eventTextEncoder = cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *EventOutput) error {
	body := printable(out.Body)
	switch {
	case out.Private:
		body = privateMark + out.To + ")"
	case out.NotAuthentic:
		body = notAuthenticMark
	}
	_, err := fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", out.Log, out.Seq, out.Cid, out.Time.Format(time.RFC3339Nano), body)
	return err
})

func printable(b []byte) string {
	if !utf8.Valid(b) || bytes.HasPrefix(b, []byte{'"'}) || bytes.HasPrefix(b, []byte(privateMark)) || bytes.HasPrefix(b, []byte("(not authentic")) {
		return strconv.Quote(string(b))
	}
	for _, r := range string(b) {
		if !strconv.IsPrint(r) {
			return strconv.Quote(string(b))
		}
	}
	return string(b)
}

func logCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "List a thread's events, decrypted and verified.",
			ShortDescription: `
Lists events in order: each log's events by seq; events of several logs
merged by their hybrid logical clock, then log ID, an order every replica
agrees on. Each event's signature is verified as it is read.

Text output is one line an event: log, seq, CID, time, body (quoted when
it is not printable text). A private event sealed to another peer (see
'ipfs threads add --to') shows "(private to <peer>)" as its body; one to
this node whose sealed key was made for another event (a member copied
someone else's private event into its log) shows "(not authentic: ...)".
With --enc=json the body is base64, a private event has "To" (its
recipient), and "Private": true (sealed to another peer) or
"NotAuthentic": true with a null body when this node does not read it.
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Options: []cmds.Option{
			cmds.StringOption("log", "Only this log (a log ID)."),
			cmds.Uint64Option("since", "Skip each log's events up to and including this seq.").WithDefault(uint64(0)),
			cmds.IntOption("limit", "Print at most this many events (0: all).").WithDefault(0),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			q := threads.Query{}
			q.Since, _ = req.Options["since"].(uint64)
			q.Limit, _ = req.Options["limit"].(int)
			if q.Limit < 0 {
				return cmds.Errorf(cmds.ErrClient, "--limit must not be negative")
			}
			if s, _ := req.Options["log"].(string); s != "" {
				if q.Log, err = ipel.ParseLogID(s); err != nil {
					return cmds.Errorf(cmds.ErrClient, "%s", err)
				}
			}
			recs, err := b.Threads.Events(req.Context, tid, q)
			if err != nil {
				return userError(err)
			}
			for _, r := range recs {
				if err := res.Emit(eventOutput(r)); err != nil {
					return err
				}
			}
			return nil
		},
		Type:     EventOutput{},
		Encoders: cmds.EncoderMap{cmds.Text: eventTextEncoder},
	}
}

func catCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Write an event's body to stdout.",
			ShortDescription: `
Writes the decrypted body of one event of the thread, verified, as it was
added. A private event's body is written only on its recipient's node;
anywhere else cat fails, naming the recipient.
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("event", true, false, "Event CID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			c, err := cid.Decode(req.Arguments[1])
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "invalid event CID %q: %s", req.Arguments[1], err)
			}
			rec, err := b.Threads.Event(req.Context, tid, c)
			if err != nil {
				return userError(err)
			}
			if rec.Private {
				return cmds.Errorf(cmds.ErrClient, "event %s is private to %s: only that peer can read its body", c, rec.To)
			}
			if rec.NotAuthentic {
				return cmds.Errorf(cmds.ErrClient, "event %s is not authentic: its writer copied a private event sealed for another event", c)
			}
			return res.Emit(bytes.NewReader(rec.Body))
		},
	}
}

func listenCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Stream a thread's events as they are appended.",
			ShortDescription: `
Prints every event after --since (in each log), then every event appended
or received later, until interrupted. The stream is lossless and in each
log's order: a slow reader gets every event. To resume, pass the last seq
seen as --since. The output is that of 'ipfs threads log', private events
included.
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Options: []cmds.Option{
			cmds.Uint64Option("since", "Start after this seq in each log.").WithDefault(uint64(0)),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			since, _ := req.Options["since"].(uint64)
			if _, err := b.Threads.Info(tid); err != nil {
				return userError(err)
			}
			err = b.Threads.Listen(req.Context, tid, since, func(r threads.Record) error {
				return res.Emit(eventOutput(r))
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return userError(err)
		},
		Type:     EventOutput{},
		Encoders: cmds.EncoderMap{cmds.Text: eventTextEncoder},
	}
}
