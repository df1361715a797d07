package threads

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// metrics are the engine's Prometheus metrics (Kubo serves the default
// registry at /debug/metrics/prometheus).
type metrics struct {
	appended prometheus.Counter
	received prometheus.Counter
	rejected *prometheus.CounterVec
	pull     prometheus.Histogram
	lag      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry() // counted, not exported
	}
	m := &metrics{
		appended: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "threads", Name: "events_appended_total", Help: "Events appended to this node's logs.",
		})),
		received: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "threads", Name: "events_received_total", Help: "Events received from other nodes and stored.",
		})),
		rejected: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "threads", Name: "rejected_total", Help: "Messages and events from the network refused, by reason.",
		}, []string{"reason"})),
		pull: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "threads", Name: "pull_seconds", Help: "Time of one pull request (a batch of a log's events).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		})),
		lag: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "threads", Name: "sync_lag_events", Help: "Events a peer held that this node lacked, at the last sync of the thread.",
		}, []string{"thread"})),
	}
	return m
}

// register registers a collector, or returns the one already registered
// under the same name (a service opened again in the same process).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// ThreadStats is a quick look at a thread and at the node's sync counters.
type ThreadStats struct {
	Info          ThreadInfo
	Events        uint64 // events held, every log
	Equivocations int
	Peers         int    // peers in the address book
	Lag           uint64 // events a peer had that this node lacked, at the last sync
	Node          NetStats
}

// Stats returns a thread's statistics.
func (s *Service) Stats(ctx context.Context, tid ipel.ThreadID) (ThreadStats, error) {
	th, err := s.thread(tid)
	if err != nil {
		return ThreadStats{}, err
	}
	st := ThreadStats{Info: th.info(), Node: s.NetStats()}
	for _, l := range st.Info.Logs {
		st.Events += l.Seq
	}
	eqs, err := s.Equivocations(ctx, tid)
	if err != nil {
		return ThreadStats{}, err
	}
	st.Equivocations = len(eqs)
	if s.net != nil {
		st.Peers = len(s.net.book.Peers(ctx, tid))
	}
	th.mu.Lock()
	st.Lag = th.lag
	th.mu.Unlock()
	return st, nil
}
