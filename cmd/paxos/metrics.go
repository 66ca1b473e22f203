package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paxos-lab/paxos/node"
)

// metricsServer serves /metrics (Prometheus text format) and, when asked,
// /debug/pprof/ for one replica of `paxos serve`.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// registerReplicaMetrics adds the replica driver's counters, read from
// node.Stats at each scrape, to reg.
func registerReplicaMetrics(reg *prometheus.Registry, n *node.Node, id int, protocol string) {
	labels := prometheus.Labels{"replica": strconv.Itoa(id), "protocol": protocol}
	counter := func(name, help string, get func(node.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "paxos", Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(get(n.Stats())) }))
	}
	counter("readies_total", "Non-empty Readies the driver carried out.", func(s node.Stats) uint64 { return s.Readies })
	counter("wal_appends_total", "Storage appends, one fsync each (unless --no-sync).", func(s node.Stats) uint64 { return s.Appends })
	counter("wal_records_total", "Records persisted.", func(s node.Stats) uint64 { return s.Records })
	counter("messages_sent_total", "Protocol messages sent to peers.", func(s node.Stats) uint64 { return s.Messages })
	counter("commands_executed_total", "Commands executed by this replica's state machine.", func(s node.Stats) uint64 { return s.Executed })
	counter("step_errors_total", "Peer messages the replica refused.", func(s node.Stats) uint64 { return s.StepErrors })
}

// startMetrics listens on addr and serves the replica's metrics, the Go
// runtime's and the process's, and with withPprof the pprof handlers.
func startMetrics(addr string, withPprof bool, n *node.Node, id int, protocol string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerReplicaMetrics(reg, n, id, protocol)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w; choose a free port", addr, err)
	}
	m := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the replica keeps running without its metrics
		}
	}()
	return m, nil
}

// Addr is the address the metrics server listens on.
func (m *metricsServer) Addr() net.Addr { return m.ln.Addr() }

// Close stops the metrics server.
func (m *metricsServer) Close(ctx context.Context) error { return m.srv.Shutdown(ctx) }
