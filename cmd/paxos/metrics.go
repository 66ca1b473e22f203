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
)

// metricsServer serves /metrics (Prometheus text format) and, when asked,
// /debug/pprof/ for one replica of `paxos serve`.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// startMetrics listens on addr and serves the metrics registered on reg
// (and the Go runtime's and the process's, which it adds), and with
// withPprof the pprof handlers. The replica's own series are registered by
// node.Serve (ServeConfig.Metrics), labelled with replicaLabels.
func startMetrics(addr string, withPprof bool, reg *prometheus.Registry) (*metricsServer, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

// replicaLabels wraps reg so that every series of the replica carries its
// id and protocol.
func replicaLabels(reg prometheus.Registerer, id int, protocol string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"replica": strconv.Itoa(id), "protocol": protocol}, reg)
}

// Addr is the address the metrics server listens on.
func (m *metricsServer) Addr() net.Addr { return m.ln.Addr() }

// Close stops the metrics server.
func (m *metricsServer) Close(ctx context.Context) error { return m.srv.Shutdown(ctx) }
