package commands

import (
	"fmt"
	"io"
	"sort"
	"strings"

	cmds "github.com/ipfs/go-ipfs-cmds"
)

// StatsOutput is a quick look at a thread and the node's sync counters.
type StatsOutput struct {
	Thread        string
	Logs          int
	Events        uint64
	Equivocations int
	Peers         int
	Lag           uint64
	// BlockedLogs counts the logs that cannot catch up ('ipfs threads
	// info' says why).
	BlockedLogs int
	Received    uint64
	Pushed      uint64
	Pulled      uint64
	Rejected    map[string]uint64
	// ViewsSkipped counts what this node's views of the thread ignored:
	// events skipped whole and operations refused, by reason (every
	// replica ignores the same); empty when nothing was, null without the
	// read key.
	ViewsSkipped map[string]uint64
}

func statsCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Show a thread's statistics and the node's sync counters.", `
For the thread: logs, events held, equivocations seen, peers in its address
book, the lag at its last sync (events a peer held that this node
lacked), and how many logs cannot catch up past a compaction ('ipfs threads
info' says why). For the node: events received, pushed and pulled, and
input rejected by reason. For the views (with the read key), what this node
counted when it first applied them: events skipped whole (malformed, over
the work budget of one event, or failing to apply) and operations refused
(a schema or document over the limits, a write or ACL change the ACL does
not allow...), by reason; every replica ignores the same. The same figures,
and more, are Prometheus metrics (threads_*) at the API's
/debug/metrics/prometheus.
`, `
--enc=json prints {"Thread", "Logs", "Events", "Equivocations", "Peers",
"Lag", "BlockedLogs", "Received", "Pushed", "Pulled", "Rejected":
{<reason>: <count>}, "ViewsSkipped": {<reason>: <count>}} (ViewsSkipped is
null without the read key).

Fails when the thread ID is malformed or the thread unknown.

Example:

  $ ipfs threads stats $T
  Thread:         bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3zs6szgnab3omzvuy6jvca
  Logs:           2
  Events:         1204
  ...
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			st, err := api.Threads().Stats(req.Context, tid)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&StatsOutput{
				Thread: st.Thread.String(), Logs: st.Logs, Events: st.Events, Equivocations: st.Equivocations,
				Peers: st.Peers, Lag: st.Lag, BlockedLogs: st.BlockedLogs, Received: st.Received, Pushed: st.Pushed,
				Pulled: st.Pulled, Rejected: st.Rejected, ViewsSkipped: st.ViewsSkipped,
			})
		},
		Type: StatsOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *StatsOutput) error {
				var sb strings.Builder
				fmt.Fprintf(&sb, "Thread:         %s\nLogs:           %d\nEvents:         %d\nEquivocations:  %d\nPeers:          %d\nLag:            %d\n",
					out.Thread, out.Logs, out.Events, out.Equivocations, out.Peers, out.Lag)
				if out.BlockedLogs > 0 {
					fmt.Fprintf(&sb, "Blocked logs:   %d (cannot catch up: see 'ipfs threads info %s')\n", out.BlockedLogs, out.Thread)
				}
				fmt.Fprintf(&sb, "Node received:  %d\nNode pushed:    %d\nNode pulled:    %d\nRejected:\n", out.Received, out.Pushed, out.Pulled)
				writeCounts(&sb, out.Rejected, 24)
				if out.ViewsSkipped != nil {
					sb.WriteString("Views skipped:\n")
					writeCounts(&sb, out.ViewsSkipped, 40)
				}
				_, err := io.WriteString(w, sb.String())
				return err
			}),
		},
	}
}

// writeCounts lists counts by reason, sorted, or "none".
func writeCounts(sb *strings.Builder, counts map[string]uint64, width int) {
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	if len(reasons) == 0 {
		sb.WriteString("  none\n")
	}
	for _, r := range reasons {
		fmt.Fprintf(sb, "  %-*s %d\n", width, r+":", counts[r])
	}
}
