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
	// ViewsSkipped counts what the thread's views skipped, by reason;
	// absent without the read key.
	ViewsSkipped map[string]uint64 `json:",omitempty"`
}

func statsCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Show a thread's statistics and the node's sync counters.", `
For the thread: logs, events held, equivocations seen, peers in its address
book, the lag at its last sync (events a peer held that this node
lacked), and how many logs cannot catch up past a compaction ('ipfs threads
info' says why). For the node: events received, pushed and pulled, and
input rejected by reason. For the views (with the read key): events or
operations skipped, by reason, the same on every replica. The same
figures, and more, are Prometheus metrics (threads_*) at the API's
/debug/metrics/prometheus.
`, `
--enc=json prints {"Thread", "Logs", "Events", "Equivocations", "Peers",
"Lag", "BlockedLogs", "Received", "Pushed", "Pulled", "Rejected":
{<reason>: <count>}, "ViewsSkipped": {<reason>: <count>}}.

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
				reasons := sortedReasons(out.Rejected)
				if len(reasons) == 0 {
					sb.WriteString("  none\n")
				}
				for _, r := range reasons {
					fmt.Fprintf(&sb, "  %-24s %d\n", r+":", out.Rejected[r])
				}
				if out.ViewsSkipped != nil {
					sb.WriteString("Views skipped:\n")
					if len(out.ViewsSkipped) == 0 {
						sb.WriteString("  none\n")
					}
					for _, r := range sortedReasons(out.ViewsSkipped) {
						fmt.Fprintf(&sb, "  %-24s %d\n", r+":", out.ViewsSkipped[r])
					}
				}
				_, err := io.WriteString(w, sb.String())
				return err
			}),
		},
	}
}

func sortedReasons(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
