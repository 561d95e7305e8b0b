package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/report"
)

// latencyBuckets (seconds) span the waits that matter to a latency
// target: 10 µs to 2.5 s.
var latencyBuckets = []float64{10e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5}

// overflowPool is the pool label of every pool past --metrics-max-series.
const overflowPool = "(other)"

// metrics are attach's Prometheus metrics. The latency histogram's series
// are bounded: at most maxSeries (jvm, pool, kind) combinations, the rest
// counted under pool "(other)", so a JVM that names threads after request
// ids cannot blow up the time-series database.
type metrics struct {
	reg       *prometheus.Registry
	latency   *prometheus.HistogramVec
	records   prometheus.Counter
	unnamed   prometheus.Counter
	folded    prometheus.Counter
	pools     []report.PoolRule
	maxSeries int

	mu     sync.Mutex
	series map[[3]string]prometheus.Observer
}

func newMetrics(maxSeries int, pools []report.PoolRule) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), maxSeries: maxSeries, pools: pools, series: map[[3]string]prometheus.Observer{}}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "jschedlat_runq_latency_seconds",
		Help:    "Run-queue waits recorded (at least --min-latency), by JVM, thread pool (thread names with their trailing number folded) and kind.",
		Buckets: latencyBuckets,
	}, []string{"jvm", "pool", "kind"})
	m.records = prometheus.NewCounter(prometheus.CounterOpts{Name: "jschedlat_records_total", Help: "Records written (each one a run-queue wait)."})
	m.unnamed = prometheus.NewCounter(prometheus.CounterOpts{Name: "jschedlat_records_unnamed_total", Help: "Records of the JVM's threads written without a Java name."})
	m.folded = prometheus.NewCounter(prometheus.CounterOpts{Name: "jschedlat_runq_latency_folded_total", Help: "Waits counted under pool=\"(other)\" because the histogram had --metrics-max-series series already."})
	m.reg.MustRegister(m.latency, m.records, m.unnamed, m.folded,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return m
}

// observe counts one record written.
func (m *metrics) observe(r *record.Record, jvmName string) {
	// Unnamed threads are folded too: [req-*], not one series per thread.
	pool := "[" + report.Pool(r.Comm, nil) + "]"
	if r.JavaThread != "" {
		pool = report.Pool(r.JavaThread, m.pools)
	}
	key := [3]string{jvmName, pool, r.Kind}
	m.mu.Lock()
	o, ok := m.series[key]
	if !ok {
		if len(m.series) >= m.maxSeries {
			key[1] = overflowPool
			m.folded.Inc()
			if o, ok = m.series[key]; !ok {
				o = m.latency.WithLabelValues(key[0], key[1], key[2])
				m.series[key] = o // beyond the bound: one per (jvm, kind)
			}
		} else {
			o = m.latency.WithLabelValues(key[0], key[1], key[2])
			m.series[key] = o
		}
	}
	m.mu.Unlock()
	o.Observe(float64(r.LatencyNs) / 1e9)
	m.records.Inc()
	if r.JavaThread == "" && r.Pid != 0 {
		m.unnamed.Inc()
	}
}

// counterFunc registers a counter read at scrape time.
func (m *metrics) counterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// listenMetrics binds addr before anything is loaded, so a port in use is
// a clear error up front.
func listenMetrics(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	return l, nil
}

// serve serves /metrics on l until Close.
func (m *metrics) serve(l net.Listener) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "jschedlat: metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Warn("metrics server stopped", "err", err)
		}
	}()
	slog.Info("serving metrics", "addr", "http://"+l.Addr().String()+"/metrics")
	return srv
}

// meteredSink counts every record on its way to the sink.
type meteredSink struct {
	record.Writer
	m   *metrics
	jvm string
}

func (s meteredSink) Write(r *record.Record) error {
	if err := s.Writer.Write(r); err != nil {
		return err
	}
	s.m.observe(r, s.jvm)
	return nil
}

// dumpStats are the refresher's counters, for metrics.
type dumpStats struct {
	taken, failed int
	wall, stopped time.Duration
	deferred      time.Duration
}

func (d dumpStats) add(o dumpStats) dumpStats {
	return dumpStats{taken: d.taken + o.taken, failed: d.failed + o.failed, wall: d.wall + o.wall, stopped: d.stopped + o.stopped, deferred: d.deferred + o.deferred}
}

// registerRun adds the metrics read from the tracer, the refresher and
// the sink at scrape time.
func (m *metrics) registerRun(events func() uint64, lost func() uint64, sink *recordSink, dumps func() dumpStats) {
	m.counterFunc("jschedlat_events_total", "Run-queue waits read from the kernel.", func() float64 { return float64(events()) })
	m.counterFunc("jschedlat_lost_events_total", "Events the kernel could not hand over (ring buffer full).", func() float64 { return float64(lost()) })
	m.counterFunc("jschedlat_records_dropped_total", "Records dropped while the output's disk was full (--on-disk-full wait).", func() float64 { return float64(sink.Dropped()) })
	if dumps == nil {
		return
	}
	m.counterFunc("jschedlat_thread_dumps_total", "Thread dumps taken.", func() float64 { return float64(dumps().taken) })
	m.counterFunc("jschedlat_thread_dump_failures_total", "Thread dumps that failed.", func() float64 { return float64(dumps().failed) })
	m.counterFunc("jschedlat_thread_dump_seconds_total", "Wall time of the thread dumps taken.", func() float64 { return dumps().wall.Seconds() })
	m.counterFunc("jschedlat_thread_dump_jvm_stopped_seconds_total", "Time the thread dumps kept the JVM stopped at safepoints (where the JVM reports it).", func() float64 {
		return dumps().stopped.Seconds()
	})
	m.counterFunc("jschedlat_thread_dump_deferred_seconds_total", "Time dump requests waited for the rate limit or the --dump-budget.", func() float64 { return dumps().deferred.Seconds() })
}

// jvmLabel is the jvm label of a traced process: its main class or jar
// (stable across restarts), else "pid-N".
func jvmLabel(mainClass string, pid int) string {
	if mainClass == "" {
		return "pid-" + strconv.Itoa(pid)
	}
	return mainClass
}
