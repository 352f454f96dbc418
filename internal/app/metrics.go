package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/npes/npes/mailbox"
)

// MetricNames are the npes metrics /metrics exports besides the Go runtime
// and process figures. The names are a contract: the Grafana dashboard in
// deploy/ and operators' alerts rely on them.
var MetricNames = []string{
	"npes_letters_accepted_total",
	"npes_submissions_refused_total",
	"npes_commit_batch_size",
	"npes_commit_duration_seconds",
	"npes_seal_duration_seconds",
	"npes_log_size",
	"npes_print_jobs",
	"npes_print_oldest_queued_seconds",
	"npes_lease_expiries_total",
	"npes_smtp_replies_total",
	"npes_revocation_set_age_seconds",
	"npes_db_pool_in_use",
	"npes_log_predictions_total",
}

// metrics is one server's Prometheus registry: events are counted as they
// happen (it implements mailbox.Observer and hybrid.Observer), state is read
// at scrape time by stateCollector. A registry per server, never the global
// one, so that several servers in one process (tests) keep their own
// counts.
type metrics struct {
	reg           *prometheus.Registry
	accepted      *prometheus.CounterVec
	refused       *prometheus.CounterVec
	commitBatch   prometheus.Histogram
	commitSeconds prometheus.Histogram
	sealSeconds   prometheus.Histogram
	predictions   *prometheus.CounterVec
	leaseExpiries prometheus.Counter
	smtpReplies   *prometheus.CounterVec
}

func newMetrics(state *stateCollector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "npes_letters_accepted_total",
			Help: "Letters committed with their evidence, by route (electronic, print) and channel (api, smtp).",
		}, []string{"route", "channel"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "npes_submissions_refused_total",
			Help: "Letter submissions refused, by reason (the error code the client got).",
		}, []string{"reason"}),
		// A batch carries up to mailbox.MaxBatch (128) submissions.
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "npes_commit_batch_size",
			Help:    "Submissions carried by one group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
		// From a local fsync (about a millisecond) to a stalled database.
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "npes_commit_duration_seconds",
			Help:    "Duration of one group-commit transaction, from BEGIN to the durable COMMIT.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		// Ed25519 takes tens of microseconds, ML-DSA-65 about a millisecond.
		sealSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "npes_seal_duration_seconds",
			Help:    "Duration of sealing (signing) one evidence envelope.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
		}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "npes_log_predictions_total",
			Help: "Appends sealed ahead of the evidence log's head lock, by whether the predicted log index held (hit) or they were sealed again under the lock (miss: another process appended, or an append rolled back).",
		}, []string{"result"}),
		leaseExpiries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "npes_lease_expiries_total",
			Help: "Print jobs leased again because the previous lease expired unreported.",
		}),
		smtpReplies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "npes_smtp_replies_total",
			Help: "SMTP replies the gateway decided (refusals and the 250s to MAIL, RCPT and DATA), by reply code.",
		}, []string{"code"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.accepted, m.refused, m.commitBatch, m.commitSeconds, m.sealSeconds, m.predictions, m.leaseExpiries, m.smtpReplies, state)
	return m
}

// handler serves the registry. A collector that fails (the database is
// down) is logged and left out; the rest of the scrape is still served.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrintln{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

type slogPrintln struct{ log *slog.Logger }

func (l slogPrintln) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

// mailbox.Observer and hybrid.Observer.

func (m *metrics) CommitBatch(size int, d time.Duration) {
	m.commitBatch.Observe(float64(size))
	m.commitSeconds.Observe(d.Seconds())
}

func (m *metrics) Sealed(d time.Duration) { m.sealSeconds.Observe(d.Seconds()) }

func (m *metrics) LogPrediction(hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.predictions.WithLabelValues(result).Inc()
}

func (m *metrics) LetterAccepted(route, channel string) {
	m.accepted.WithLabelValues(route, channel).Inc()
}

func (m *metrics) SubmissionRefused(reason string) { m.refused.WithLabelValues(reason).Inc() }

func (m *metrics) LeasesExpired(n int) { m.leaseExpiries.Add(float64(n)) }

// SMTPReply counts one reply code of the SMTP gateway.
func (m *metrics) SMTPReply(code int) { m.smtpReplies.WithLabelValues(strconv.Itoa(code)).Inc() }

// stateCollector reads what is state, not events, when it is scraped: the
// log size and the print queue from the store (one read-only transaction
// with a primary-key read and one GROUP BY), the connections in use from
// the pool, the age of the revoked set from memory.
type stateCollector struct {
	store  mailbox.Store
	now    func() time.Time
	revAge func() time.Duration
	// timeout bounds the store's part of a scrape.
	timeout time.Duration

	logSize, printJobs, oldestQueued, poolInUse, revocationAge *prometheus.Desc
}

// connsInUse is implemented by both store engines.
type connsInUse interface{ ConnsInUse() int }

func newStateCollector(store mailbox.Store, now func() time.Time, revAge func() time.Duration) *stateCollector {
	return &stateCollector{
		store: store, now: now, revAge: revAge, timeout: 5 * time.Second,
		logSize: prometheus.NewDesc("npes_log_size",
			"Entries in the evidence log (its tree size).", nil, nil),
		printJobs: prometheus.NewDesc("npes_print_jobs",
			"Print jobs by region and state (queued, leased, printed, dead); posted jobs are not counted.", []string{"region", "state"}, nil),
		oldestQueued: prometheus.NewDesc("npes_print_oldest_queued_seconds",
			"Age of the oldest queued print job (0 when none is queued).", nil, nil),
		poolInUse: prometheus.NewDesc("npes_db_pool_in_use",
			"Database connections in use now.", nil, nil),
		revocationAge: prometheus.NewDesc("npes_revocation_set_age_seconds",
			"Age of the revoked-certificate set that handshakes and requests consult.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.logSize, c.printJobs, c.oldestQueued, c.poolInUse, c.revocationAge} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.revocationAge, prometheus.GaugeValue, max(c.revAge(), 0).Seconds())
	if p, ok := c.store.(connsInUse); ok {
		ch <- prometheus.MustNewConstMetric(c.poolInUse, prometheus.GaugeValue, float64(p.ConnsInUse()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var head mailbox.LogHead
	var groups []mailbox.PrintJobGroup
	err := c.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		if head, err = tx.GetLogHead(ctx); err != nil {
			return err
		}
		groups, err = tx.PrintQueueStats(ctx)
		return err
	})
	if err != nil {
		err = fmt.Errorf("reading the log size and print queue: %w", err)
		for _, d := range []*prometheus.Desc{c.logSize, c.printJobs, c.oldestQueued} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(c.logSize, prometheus.GaugeValue, float64(head.Size))
	var oldest time.Time
	for _, g := range groups {
		ch <- prometheus.MustNewConstMetric(c.printJobs, prometheus.GaugeValue, float64(g.Count), g.Region, g.State)
		if g.State == mailbox.JobQueued && (oldest.IsZero() || g.Oldest.Before(oldest)) {
			oldest = g.Oldest
		}
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(c.now().Sub(oldest), 0).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.oldestQueued, prometheus.GaugeValue, age)
}
