package commands

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// AddOutput names the appended event.
type AddOutput struct {
	Cid string
	Seq uint64
	Log string
}

func addCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Append an event to a thread.", `
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
`, `
Prints the event's CID and seq ("<cid> <seq>"; with -q the CID alone);
--enc=json prints {"Cid", "Seq", "Log"}.

Fails, and appends nothing, when the thread ID is malformed or unknown, the
body is empty or larger than MaxBodySize, this node has no log in the
thread (it joined as a reader or a follower), its role in an
access-controlled thread does not allow writing, or the --to peer ID is
malformed or not an Ed25519 one.

Examples:

  $ echo hello | ipfs threads add $T
  bahqihqabciqnfuidnfss2vgoo5q5rij4z2fyb37tul5q5bk2apj556smkxa6ska 1
  $ ipfs threads add -q $T photo.jpg
  bahqihqabciqn7p66xs7n3hu5233ty3bgutzttdxdb54ilkugvrq4ckvz3fkq6bi
  $ PEER=$(ipfs id -f '<id>')    # on the recipient's node
  $ ipfs threads add --to $PEER $T note.txt
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.FileArg("data", true, false, "File whose contents are the event body (stdin when omitted).").EnableStdin(),
		},
		Options: []cmds.Option{
			cmds.BoolOption("quiet", "q", "Print only the event's CID."),
			cmds.StringOption("to", "Seal the body to this peer only (an Ed25519 peer ID): a private event."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			var opts []options.EventAddOption
			if s, _ := req.Options["to"].(string); s != "" {
				to, err := peerArg("--to peer ID", s)
				if err != nil {
					return err
				}
				opts = append(opts, options.Event.To(to))
			}
			body, err := bodyArg(req)
			if err != nil {
				return err
			}
			defer body.Close()
			ref, err := api.Events().Add(req.Context, tid, body, opts...)
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

// bodyArg opens the single file argument.
func bodyArg(req *cmds.Request) (files.File, error) {
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
	return f, nil
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

func eventOutput(e iface.Event) *EventOutput {
	out := &EventOutput{Log: e.Log.String(), Seq: e.Seq, Cid: e.Cid.String(), Time: e.Time, Body: e.Body, Private: e.Private, NotAuthentic: e.NotAuthentic}
	if e.To != "" {
		out.To = e.To.String()
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

// previewWidth is how many columns of a body the text output of log and
// listen prints without --full.
const previewWidth = 64

// eventTextEncoder prints one line an event: log, seq, CID, time, body. The
// body column is the body as is when it is printable UTF-8 on one line of at
// most previewWidth characters that starts with neither a quote nor a mark;
// otherwise it is Go-quoted, and, unless --full is given, shortened to a
// quoted prefix of at most previewWidth columns followed by "... (N bytes)".
// A private event for another peer shows "(private to <peer>)" in place of
// its body, one that is not authentic the not-authentic mark.
var eventTextEncoder = cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *EventOutput) error {
	var body string
	switch full, _ := req.Options[fullOption].(bool); {
	case out.Private:
		body = privateMark + out.To + ")"
	case out.NotAuthentic:
		body = notAuthenticMark
	case full:
		body = printable(out.Body)
	default:
		body = bodyPreview(out.Body, previewWidth)
	}
	_, err := fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", out.Log, out.Seq, out.Cid, out.Time.Format(time.RFC3339Nano), body)
	return err
})

// fullOption makes log and listen print whole bodies.
const fullOption = "full"

func fullBodiesOption() cmds.Option {
	return cmds.BoolOption(fullOption, "Print whole bodies (text output), not a preview.")
}

// printable returns b as is when it is printable UTF-8 on one line that
// starts with neither a quote nor a mark, and Go-quoted otherwise.
func printable(b []byte) string {
	if verbatim(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

func verbatim(b []byte) bool {
	if !utf8.Valid(b) || bytes.HasPrefix(b, []byte{'"'}) || bytes.HasPrefix(b, []byte(privateMark)) || bytes.HasPrefix(b, []byte("(not authentic")) {
		return false
	}
	for _, r := range string(b) {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// bodyPreview is printable(b) when that is at most width characters
// (quotes excluded); otherwise the Go-quoted longest prefix of b that
// quotes to at most width characters, then "... (N bytes)". A text body
// keeps width characters, a binary one a quarter as many bytes (\xNN).
func bodyPreview(b []byte, width int) string {
	if len(b) <= utf8.UTFMax*width { // longer ones have more than width characters
		if verbatim(b) && utf8.RuneCount(b) <= width {
			return string(b)
		}
		if q := strconv.Quote(string(b)); utf8.RuneCountInString(q) <= width+2 {
			return q
		}
	}
	cols, end := 0, 0
	for end < len(b) {
		_, size := utf8.DecodeRune(b[end:])
		n := utf8.RuneCountInString(strconv.Quote(string(b[end:end+size]))) - 2
		if cols+n > width {
			break
		}
		cols, end = cols+n, end+size
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(string(b[:end])), len(b))
}

func logCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("List a thread's events, decrypted and verified.", `
Lists events in order: each log's events by seq; events of several logs
merged by their hybrid logical clock, then log ID, an order every replica
agrees on. Each event's signature is verified as it is read.
`, `
Text output is one line an event, tab-separated: log ID, seq, CID, time
(RFC 3339), body. A body is printed as is when it is printable text on one
line of at most 64 characters (and starts with neither '"' nor
'(private to '); otherwise it is Go-quoted and, past 64 columns, shortened
to a quoted prefix followed by '... (<size> bytes)'. --full prints every
body whole (quoted when it is not printable text); 'ipfs threads cat'
writes one as it was added. A private event sealed to another peer (see
'ipfs threads add --to') shows "(private to <peer>)" as its body; one to
this node whose sealed key was made for another event (a member copied
someone else's private event into its log) shows "(not authentic: ...)".

--enc=json prints one object an event: {"Log", "Seq", "Cid", "Time",
"Body"}, the body whole, in base64. A private event adds "To" (its
recipient) and, where this node cannot read it, "Private": true (sealed
to another peer) or "NotAuthentic": true, with a null body.

Fails when the thread ID or --log is malformed, the thread or the log is
unknown, or this node holds no read key (a follower).

Examples:

  $ ipfs threads log $T --limit 1
  12D3KooWBHGv...  1  bahqihqab...6ska  2026-12-01T04:30:29.56Z  "hello\n"
  $ ipfs threads log $T --since 1 --limit 1 --enc=json | jq -r .Body |
      base64 -d >photo.jpg
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Options: []cmds.Option{
			cmds.StringOption("log", "Only this log (a log ID)."),
			cmds.Uint64Option("since", "Skip each log's events up to and including this seq.").WithDefault(uint64(0)),
			cmds.IntOption("limit", "Print at most this many events (0: all).").WithDefault(0),
			fullBodiesOption(),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			since, _ := req.Options["since"].(uint64)
			limit, _ := req.Options["limit"].(int)
			if limit < 0 {
				return cmds.Errorf(cmds.ErrClient, "--limit must not be negative")
			}
			opts := []options.LogOption{options.Log.Since(since), options.Log.Limit(limit)}
			if s, _ := req.Options["log"].(string); s != "" {
				log, err := ipel.ParseLogID(s)
				if err != nil {
					return cmds.Errorf(cmds.ErrClient, "invalid log ID %q (want a log ID such as 12D3KooW...; 'ipfs threads info' lists the thread's logs)", clipArg(s))
				}
				opts = append(opts, options.Log.Of(log))
			}
			evs, err := api.Events().Log(req.Context, tid, opts...)
			if err != nil {
				return userError(err)
			}
			for _, e := range evs {
				if err := res.Emit(eventOutput(e)); err != nil {
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
		Helptext: helpText("Write an event's body to stdout.", `
Writes the decrypted body of one event of the thread, verified, byte for
byte as it was added, with no newline added. A private event's body is
written only on its recipient's node; anywhere else cat fails, naming the
recipient.
`, `
Like 'ipfs cat', it writes the body as it is whatever the encoding:
--enc=json changes nothing.

Fails when the thread ID or the CID is malformed, the thread is unknown,
the CID is not an event of this thread that this node holds, this node
holds no read key (a follower), or the event is private to another peer.

Example:

  $ C=$(ipfs threads add -q $T photo.jpg)
  $ ipfs threads cat $T $C >copy.jpg
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("event", true, false, "Event CID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			c, err := cid.Decode(req.Arguments[1])
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "invalid event CID %q (want a CID such as bahqihqab...; 'ipfs threads log' lists the thread's events)", clipArg(req.Arguments[1]))
			}
			body, err := api.Events().Cat(req.Context, tid, c)
			if err != nil {
				return userError(err)
			}
			return res.Emit(bytes.NewReader(body))
		},
	}
}

func listenCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Stream a thread's events as they are appended.", `
Prints every event after --since (in each log), then every event appended
or received later, until interrupted. The stream is lossless and in each
log's order: a slow reader gets every event. To resume, pass the last seq
seen as --since.
`, `
Prints each event as 'ipfs threads log' does, private events included:
in text a line with the body's preview (--full: the whole body), with
--enc=json one object an event, {"Log", "Seq", "Cid", "Time", "Body"},
the body in base64.

Fails at once when the thread ID is malformed or the thread unknown, or
this node holds no read key; ends with an error when the thread is removed
or the daemon stops.

Example:

  $ ipfs threads listen $T --since 2 --enc=json | jq -r .Cid
  bahqihqabciqh4bxxihyrwupicdmmdcvfjv6nvsaklhjm7tyk6c3rb7sn2dzzcxa
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Options: []cmds.Option{
			cmds.Uint64Option("since", "Start after this seq in each log.").WithDefault(uint64(0)),
			fullBodiesOption(),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			since, _ := req.Options["since"].(uint64)
			events, err := api.Events().Listen(req.Context, tid, options.Listen.Since(since))
			if err != nil {
				return userError(err)
			}
			return emitStream(req, res, events, eventOutput)
		},
		Type:     EventOutput{},
		Encoders: cmds.EncoderMap{cmds.Text: eventTextEncoder},
	}
}
