package web

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/npes/npes/mailbox"
)

// TestConsoleTextsTranslated: every message the consoles' Go code shows is
// in the catalogue (the templates' are checked by TestTemplateKeysTranslated).
func TestConsoleTextsTranslated(t *testing.T) {
	var keys []string
	for _, m := range []map[string]string{printOutcomes, counterOutcomes, credentialOutcomes, auditOutcomes} {
		for _, v := range m {
			keys = append(keys, v)
		}
	}
	for _, f := range keyFigures {
		keys = append(keys, f.key)
	}
	for _, r := range revocationReasons {
		keys = append(keys, r.Key)
	}
	for _, e := range physicalEvents {
		keys = append(keys, "physical."+e)
	}
	for _, s := range []string{mailbox.JobQueued, mailbox.JobLeased, mailbox.JobDead} {
		keys = append(keys, "job."+s)
	}
	for _, s := range []string{mailbox.AuditRunning, mailbox.AuditPassed, mailbox.AuditFailed, mailbox.AuditAbandoned} {
		keys = append(keys, "audit."+s)
	}
	for _, r := range []string{"person", "org", "printcenter", "operator"} {
		keys = append(keys, "role."+r)
	}
	keys = append(keys, "kind."+mailbox.KindPerson, "kind."+mailbox.KindOrg, "jobkind."+mailbox.JobLetter, "jobkind."+mailbox.JobActivation, "event.PrintRetried")
	for _, k := range keys {
		if _, ok := allTexts[k]; !ok {
			t.Errorf("%q is not in the catalogue", k)
		}
	}
}

func TestCheckpointText(t *testing.T) {
	note := []byte("npes/evidence/abc\n11\nroot=\n\n\u2014 npes/evidence/abc AAAA\n\u2014 npes/evidence/abc+mldsa BBBB\n")
	text, signers := checkpointText(note)
	if text != "npes/evidence/abc\n11\nroot=" || !slices.Equal(signers, []string{"npes/evidence/abc", "npes/evidence/abc+mldsa"}) {
		t.Fatalf("%q %q", text, signers)
	}
}

func TestMetricValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"route"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	reg.MustRegister(c, h)
	c.WithLabelValues("print").Add(2)
	c.WithLabelValues("electronic").Add(3)
	h.Observe(1)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		got[f.GetName()] = metricValue(f)
	}
	if got["c_total"] != 5 || got["h_seconds"] != 1 {
		t.Fatalf("%v", got)
	}
}

func TestDuration(t *testing.T) {
	l := newLocale("ru")
	for d, want := range map[time.Duration]string{-time.Minute: "0 мин", 90 * time.Second: "1 мин", 150 * time.Minute: "2 ч 30 мин", 50 * time.Hour: "2 д 2 ч"} {
		if got := l.duration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
