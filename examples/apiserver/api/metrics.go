package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus metrics:
//
//	metalkit_apiserver_http_requests_total{method,route,code}      requests served
//	metalkit_apiserver_http_request_duration_seconds{method,route} latency histogram
//	metalkit_apiserver_allocations_total{kind,result}              allocations (see Allocation)
//	metalkit_apiserver_store_errors_total{class}                   failed store operations
//
// route is the ServeMux pattern ("GET /v1/partition/{id}"), or
// "unmatched" for a request no route takes, so the label's values are
// bounded. Its methods are safe for concurrent use.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	allocations *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	handler     http.Handler
}

// newMetrics registers the metrics in reg (a new registry with the Go and
// process collectors when nil).
func newMetrics(reg *prometheus.Registry) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metalkit", Subsystem: "apiserver", Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "metalkit", Subsystem: "apiserver", Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metalkit", Subsystem: "apiserver", Name: "allocations_total",
			Help: "Allocations asked for, by kind (ip, network, machine, firewall) and result (ok, exhausted, failed).",
		}, []string{"kind", "result"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metalkit", Subsystem: "apiserver", Name: "store_errors_total",
			Help: "Requests that failed in the store, by class (unavailable, corrupt, conflict, other).",
		}, []string{"class"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.allocations, m.storeErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

// observe counts one served request. Methods outside HTTP's standard
// ones are counted as "other", so that clients cannot grow the label set.
func (m *Metrics) observe(method, route string, status int, took time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}

// Allocation counts one allocation of kind ("ip", "network", "machine",
// "firewall") with its result ("ok", "exhausted", "failed"). The
// allocation routes count every request whose body decodes; an embedder
// may count its own allocations through the Go API.
func (m *Metrics) Allocation(kind, result string) {
	m.allocations.WithLabelValues(kind, result).Inc()
}

// StoreError counts one request that failed in the store, by class
// ("unavailable", "corrupt", "conflict", "other").
func (m *Metrics) StoreError(class string) {
	m.storeErrors.WithLabelValues(class).Inc()
}
