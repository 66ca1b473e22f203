package node

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// Metric names are documented in docs/operations.md ("Metrics"). Every series a
// node registers starts with "paxos_"; the caller adds labels such as the
// replica's id with prometheus.WrapRegistererWith.

// latencyBuckets (seconds) span 100 µs to about 6.5 s: a loopback
// cluster without fsync to a WAN cluster under load.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)

// diskBuckets (seconds) span 20 µs to about 1.3 s: page-cache writes to a
// stalled disk.
var diskBuckets = prometheus.ExponentialBuckets(0.00002, 2, 17)

// opKinds are the operations whose latency is kept apart (paxos.Op values
// 0..3); other values are counted under "other".
var opKinds = [...]string{paxos.OpNop: "nop", paxos.OpGet: "get", paxos.OpPut: "put", paxos.OpApp: "app"}

// leaderReporter is implemented by leader-based replicas (multi, flexible,
// raft, fastpaxos): the leader this replica believes in, or -1.
type leaderReporter interface {
	Leader() paxos.NodeID
}

// nodeMetrics is a node's Prometheus instrumentation. Everything the loop
// records is lock-free and allocation-free (counters and histograms
// created up front); the protocol's event counters (paxos.Coverage) are
// sampled on the loop about once a second, since a replica may only be
// touched from its own goroutine.
type nodeMetrics struct {
	commits     [3]prometheus.Counter // by paxos.Path: classic, fast, slow
	commitsVec  *prometheus.CounterVec
	latency     [len(opKinds) + 1]prometheus.Observer // by op; last: other
	failed      *prometheus.CounterVec
	timeouts    prometheus.Counter
	persist     prometheus.Histogram
	snapshots   prometheus.Counter
	leader      prometheus.Gauge
	leaderMoves prometheus.Counter

	lr         leaderReporter // nil unless the replica reports its leader
	lastLeader paxos.NodeID   // loop goroutine
	cr         paxos.CoverageReporter
	every      int // ticks between coverage samples
	ticks      int // loop goroutine

	mu  sync.Mutex
	cov paxos.Coverage // last sample, guarded by mu
}

// newNodeMetrics builds the metrics of node n and registers them, with the
// node's counters and queue depths, on reg.
func newNodeMetrics(n *Node, reg prometheus.Registerer) (*nodeMetrics, error) {
	m := &nodeMetrics{lastLeader: -2}
	m.commitsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "paxos", Name: "commits_total",
		Help: "Commands proposed at this replica whose commit it learned, by commit path as the protocol reports it (classic: the protocol's one path, fast/slow: EPaxos's and Fast Paxos's).",
	}, []string{"path"})
	for p := range m.commits {
		m.commits[p] = m.commitsVec.WithLabelValues(paxos.Path(p).String())
	}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "paxos", Name: "request_duration_seconds",
		Help:    "Time from a client command's arrival at this node to its execution here (answered requests only), by operation.",
		Buckets: latencyBuckets,
	}, []string{"op"})
	for i, k := range opKinds {
		m.latency[i] = lat.WithLabelValues(k)
	}
	m.latency[len(opKinds)] = lat.WithLabelValues("other")
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "paxos", Name: "requests_failed_total",
		Help: "Client commands answered without their execution: timeout (deadline passed), canceled (the caller gave up) or stopped (the node stopped).",
	}, []string{"reason"})
	m.timeouts = m.failed.WithLabelValues("timeout")
	m.persist = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "paxos", Name: "persist_duration_seconds",
		Help:    "Time of one storage Append (write and fsync of a group of Readies).",
		Buckets: diskBuckets,
	})
	m.snapshots = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "paxos", Name: "snapshots_total", Help: "Snapshots the replica took (Readies carrying a snapshot).",
	})
	cs := []prometheus.Collector{m.commitsVec, lat, m.failed, m.persist, m.snapshots}
	if lr, ok := n.r.(leaderReporter); ok {
		m.lr = lr
		m.leader = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "paxos", Name: "leader", Help: "The leader this replica believes in (-1: none known).",
		})
		m.leaderMoves = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "paxos", Name: "leader_changes_total", Help: "Times the leader this replica believes in changed (sampled every tick).",
		})
		cs = append(cs, m.leader, m.leaderMoves)
	}
	if cr, ok := n.r.(paxos.CoverageReporter); ok {
		m.cr = cr
		m.cov = paxos.Coverage{}
		m.every = max(1, int(time.Second/n.tick))
		cs = append(cs, (*eventCollector)(m))
	}
	counter := func(name, help string, get func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "paxos", Name: name, Help: help},
			func() float64 { return float64(get(n.Stats())) })
	}
	stall := func(name, help string, get func(Stats) time.Duration) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "paxos", Name: name, Help: help},
			func() float64 { return get(n.Stats()).Seconds() })
	}
	depth := func(queue string, get func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "paxos", Name: "queue_depth", Help: "Items waiting in a queue of the node: inbox (peer messages for the event loop), proposals (client commands for the event loop), persist (Readies waiting for the disk).",
			ConstLabels: prometheus.Labels{"queue": queue},
		}, func() float64 { return float64(get()) })
	}
	cs = append(cs,
		counter("readies_total", "Non-empty Readies the driver carried out.", func(s Stats) uint64 { return s.Readies }),
		counter("wal_appends_total", "Storage appends, one fsync each (unless --no-sync).", func(s Stats) uint64 { return s.Appends }),
		counter("wal_records_total", "Records persisted.", func(s Stats) uint64 { return s.Records }),
		counter("messages_sent_total", "Protocol messages sent to peers.", func(s Stats) uint64 { return s.Messages }),
		counter("commands_executed_total", "Commands executed by this replica's state machine.", func(s Stats) uint64 { return s.Executed }),
		counter("step_errors_total", "Peer messages the replica refused.", func(s Stats) uint64 { return s.StepErrors }),
		stall("loop_longest_tick_gap_seconds", "The longest time since the node started between two ticks its event loop handled, beyond one tick (the replica's clock stood still: a disk wait, a long step, or a process that did not run).", func(s Stats) time.Duration { return s.LongestTickGap }),
		stall("loop_longest_disk_wait_seconds", "The longest time since the node started that its event loop waited for the disk to take a Ready (stepping and ticking nothing meanwhile).", func(s Stats) time.Duration { return s.LongestDiskWait }),
		depth("inbox", func() int { return len(n.in) }),
		depth("proposals", func() int { return len(n.props) }),
		depth("persist", func() int { return len(n.toDisk) }),
	)
	if err := register(reg, cs); err != nil {
		return nil, err
	}
	return m, nil
}

// tick samples the leader every tick and the protocol's event counters
// every m.every ticks (loop goroutine).
func (m *nodeMetrics) tick() {
	if m.lr != nil {
		if l := m.lr.Leader(); l != m.lastLeader {
			if m.lastLeader != -2 {
				m.leaderMoves.Inc()
			}
			m.lastLeader = l
			m.leader.Set(float64(l))
		}
	}
	if m.cr != nil {
		if m.ticks++; m.ticks >= m.every {
			m.ticks = 0
			m.sample()
		}
	}
}

// sample copies the replica's event counters (loop goroutine).
func (m *nodeMetrics) sample() {
	if m.cr == nil {
		return
	}
	c := m.cr.Coverage()
	m.mu.Lock()
	m.cov = c
	m.mu.Unlock()
}

// observe records what a carried-out Ready reports (loop goroutine).
func (m *nodeMetrics) observe(rd *paxos.Ready) {
	for i := range rd.Committed {
		if p := rd.Committed[i].Path; int(p) < len(m.commits) {
			m.commits[p].Inc()
		} else {
			m.commitsVec.WithLabelValues(p.String()).Inc()
		}
	}
	if rd.Snapshot != nil {
		m.snapshots.Inc()
	}
}

// answered records the latency of every waiter in the chain at w.
func (m *nodeMetrics) answered(w *waiter, now time.Time) {
	for ; w != nil; w = w.next {
		if w.start.IsZero() {
			continue
		}
		k := int(w.op)
		if k >= len(opKinds) {
			k = len(opKinds)
		}
		m.latency[k].Observe(now.Sub(w.start).Seconds())
	}
}

// eventCollector exports the sampled paxos.Coverage counters as
// paxos_protocol_events_total{event=...}.
type eventCollector nodeMetrics

var eventsDesc = prometheus.NewDesc("paxos_protocol_events_total",
	"The protocol's own event counters (paxos.Coverage), sampled about once a second: e.g. elections, recoveries (EPaxos recovered instances, Fast Paxos collision recoveries), coordinated-recoveries, snapshot-installs, refused.",
	[]string{"event"}, nil)

// Describe implements prometheus.Collector.
func (e *eventCollector) Describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

// Collect implements prometheus.Collector.
func (e *eventCollector) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	keys := make([]string, 0, len(e.cov))
	for k := range e.cov {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]uint64, len(keys))
	for i, k := range keys {
		vals[i] = e.cov[k]
	}
	e.mu.Unlock()
	for i, k := range keys {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(vals[i]), k)
	}
}

// register registers every collector on reg.
func register(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("node: register metrics: %w; give each replica its own registry or distinct labels", err)
		}
	}
	return nil
}

// walHooks returns the WAL's fsync and snapshot hooks and the histograms
// they feed.
func walHooks() (func(time.Duration), func(int, time.Duration), []prometheus.Collector) {
	fsync := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "paxos", Name: "wal_fsync_duration_seconds", Help: "Time of one fsync of the WAL's log.", Buckets: diskBuckets,
	})
	snap := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "paxos", Name: "wal_snapshot_duration_seconds",
		Help:    "Time to write one snapshot to the WAL's directory (file, fsyncs, new log).",
		Buckets: diskBuckets,
	})
	return func(d time.Duration) { fsync.Observe(d.Seconds()) },
		func(_ int, d time.Duration) { snap.Observe(d.Seconds()) },
		[]prometheus.Collector{fsync, snap}
}

// walCounters exports a WAL's counters, read at each scrape.
func walCounters(w *storage.WAL) []prometheus.Collector {
	counter := func(name, help string, get func(storage.WALStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "paxos", Name: name, Help: help},
			func() float64 { return float64(get(w.Stats())) })
	}
	return []prometheus.Collector{
		counter("wal_fsyncs_total", "Fsyncs of the WAL's log (shared by concurrent appends).", func(s storage.WALStats) uint64 { return s.Syncs }),
		counter("wal_bytes_total", "Bytes of log frames written to the WAL.", func(s storage.WALStats) uint64 { return s.Bytes }),
		counter("wal_snapshots_total", "Snapshots written to the WAL's directory.", func(s storage.WALStats) uint64 { return s.Snapshots }),
		counter("wal_snapshot_bytes_total", "Bytes of snapshots written.", func(s storage.WALStats) uint64 { return s.SnapshotBytes }),
	}
}

// transportMetrics exports the TCP transport's send queue per peer and its
// message counters, read at each scrape.
func transportMetrics(tr *transport.TCP, n int, self paxos.NodeID) []prometheus.Collector {
	var cs []prometheus.Collector
	for i := 0; i < n; i++ {
		if paxos.NodeID(i) == self {
			continue
		}
		peer := paxos.NodeID(i)
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "paxos", Name: "transport_send_queue_depth", Help: "Messages waiting in the send queues to a peer.",
			ConstLabels: prometheus.Labels{"peer": strconv.Itoa(i)},
		}, func() float64 { return float64(tr.Queued(peer)) }))
	}
	counter := func(name, help string, get func(transport.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "paxos", Name: name, Help: help},
			func() float64 { return float64(get(tr.Stats())) })
	}
	return append(cs,
		counter("transport_sent_total", "Messages written to peer connections.", func(s transport.Stats) uint64 { return s.Sent }),
		counter("transport_received_total", "Messages received from peers.", func(s transport.Stats) uint64 { return s.Received }),
		counter("transport_dropped_total", "Messages lost to a full queue, an encoding error or a broken connection.", func(s transport.Stats) uint64 { return s.Dropped }))
}
