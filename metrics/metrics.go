// Package metrics serves a tracing run's Prometheus metrics: the latency
// histogram of the records written (by JVM, thread pool and kind, with a
// bound on its series) and counters read from the run at scrape time.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/report"
)

// latencyBuckets (seconds) span the waits that matter to a latency
// target: 10 µs to 2.5 s.
var latencyBuckets = []float64{10e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5}

// OverflowPool is the pool label of every pool past the series bound.
const OverflowPool = "(other)"

// Metrics are a run's Prometheus metrics. The latency histogram's series
// are bounded: at most maxSeries (jvm, pool, kind) combinations, the rest
// counted under pool "(other)", so a JVM that names threads after request
// ids cannot blow up the time-series database.
type Metrics struct {
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

// New returns the metrics with at most maxSeries latency series; pools
// fold thread names into pools (nil: the trailing number folded).
func New(maxSeries int, pools []report.PoolRule) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), maxSeries: maxSeries, pools: pools, series: map[[3]string]prometheus.Observer{}}
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

// Observe counts one record written for the JVM labelled jvm.
func (m *Metrics) Observe(r *record.Record, jvm string) {
	// Unnamed threads are folded too: [req-*], not one series per thread.
	pool := "[" + report.Pool(r.Comm, nil) + "]"
	if r.JavaThread != "" {
		pool = report.Pool(r.JavaThread, m.pools)
	}
	m.observer([3]string{jvm, pool, r.Kind}).Observe(float64(r.LatencyNs) / 1e9)
	m.records.Inc()
	if r.JavaThread == "" && r.Pid != 0 {
		m.unnamed.Inc()
	}
}

// observer is the histogram series of key, or its (other) series past the
// bound.
func (m *Metrics) observer(key [3]string) prometheus.Observer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.series[key]; ok {
		return o
	}
	if len(m.series) >= m.maxSeries {
		key[1] = OverflowPool
		m.folded.Inc()
		if o, ok := m.series[key]; ok {
			return o
		}
		// Beyond the bound: one series per (jvm, kind).
	}
	o := m.latency.WithLabelValues(key[0], key[1], key[2])
	m.series[key] = o
	return o
}

// Gather reads every metric, as a scrape does.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }

// counterFunc registers a counter read at scrape time.
func (m *Metrics) counterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Listen binds addr before anything is loaded, so a port in use is a clear
// error up front.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	return l, nil
}

// Serve serves /metrics on l until the server returned is closed.
func (m *Metrics) Serve(l net.Listener) *http.Server {
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

// DumpStats are the thread dumps' counters of a run.
type DumpStats struct {
	Taken, Failed int
	Wall, Stopped time.Duration
	Deferred      time.Duration // requests held back by the rate limit or budget
}

// Run are the counters of a run, read at scrape time. Dumps may be nil
// (no thread dumps: --all).
type Run struct {
	Events, Lost, Dropped func() uint64
	Dumps                 func() DumpStats
}

// Register adds the run's counters.
func (m *Metrics) Register(r Run) {
	m.counterFunc("jschedlat_events_total", "Run-queue waits read from the kernel.", func() float64 { return float64(r.Events()) })
	m.counterFunc("jschedlat_lost_events_total", "Events the kernel could not hand over (ring buffer full).", func() float64 { return float64(r.Lost()) })
	m.counterFunc("jschedlat_records_dropped_total", "Records dropped while the output's disk was full (--on-disk-full wait).", func() float64 { return float64(r.Dropped()) })
	if r.Dumps == nil {
		return
	}
	dumps := r.Dumps
	m.counterFunc("jschedlat_thread_dumps_total", "Thread dumps taken.", func() float64 { return float64(dumps().Taken) })
	m.counterFunc("jschedlat_thread_dump_failures_total", "Thread dumps that failed.", func() float64 { return float64(dumps().Failed) })
	m.counterFunc("jschedlat_thread_dump_seconds_total", "Wall time of the thread dumps taken.", func() float64 { return dumps().Wall.Seconds() })
	m.counterFunc("jschedlat_thread_dump_jvm_stopped_seconds_total", "Time the thread dumps' own VM operations kept the JVM stopped at safepoints (HotSpot's vmops probes and its safepoint counters; the counters over the dump's window where the probes are off).", func() float64 {
		return dumps().Stopped.Seconds()
	})
	m.counterFunc("jschedlat_thread_dump_deferred_seconds_total", "Time dump requests waited for the rate limit or the --dump-budget.", func() float64 { return dumps().Deferred.Seconds() })
}
