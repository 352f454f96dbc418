package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/bench"
	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// tiny are options that run a scenario once at a tiny size: this test
// keeps every scenario working; it never looks at a time.
func tiny(t *testing.T, databaseURL string) bench.Options {
	return bench.Options{
		Count: 20, Concurrency: 2, DatabaseURL: databaseURL, TempDir: t.TempDir(),
		Recipients: 2, Bundles: 3, Batch: 7,
		Seed: bench.SeedOptions{Letters: 400, Heavy: 130, Mailboxes: 20, PageSize: 10},
	}
}

// TestScenarios runs every scenario once per engine and checks the shape
// of its result: the counts, a baseline and a positive ratio, ordered
// percentiles, the scenario's own checks (no duplicate lease, the plans).
func TestScenarios(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	}
	for engine, url := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			for _, sc := range bench.Scenarios() {
				if sc.Name == "render" && engine != "sqlite" {
					continue // no database: once is enough
				}
				t.Run(sc.Name, func(t *testing.T) {
					o := tiny(t, url(t))
					res, err := sc.Run(t.Context(), o)
					if err != nil {
						t.Fatal(err)
					}
					checkShape(t, res, o)
					switch sc.Name {
					case "lease":
						if res.Params["duplicates"] != 0 || res.Items != o.Count {
							t.Errorf("lease: %d items, duplicates %v", res.Items, res.Params["duplicates"])
						}
					case "seed":
						if res.Params["heavy_inbox_letters"] != int64(130) || res.Params["letters_in_database"] != int64(400) {
							t.Errorf("seed: heavy inbox %v, letters %v", res.Params["heavy_inbox_letters"], res.Params["letters_in_database"])
						}
						if p, _ := res.Params["plan_page_query"].(string); p == "" {
							t.Error("seed: no plan of the page query")
						}
						if _, ok := res.Params["page_query_uses_letters_inbox"].(bool); !ok {
							t.Error("seed: index use not reported")
						}
					case "render":
						if res.Params["pages"] != 1 {
							t.Errorf("render: %v pages", res.Params["pages"])
						}
					}
				})
			}
		})
	}
}

func checkShape(t *testing.T, res *bench.Result, o bench.Options) {
	t.Helper()
	if res.Items != o.Count {
		t.Errorf("%s: %d items, want %d", res.Scenario, res.Items, o.Count)
	}
	for _, r := range []*bench.Result{res, res.Baseline} {
		if r == nil {
			t.Fatalf("%s: no baseline", res.Scenario)
		}
		if r.Items <= 0 || r.Seconds <= 0 || r.Throughput <= 0 || r.CPUSecondsPerItem < 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: figures %+v", r.Scenario, r)
		}
		if !(0 < r.P50 && r.P50 <= r.P95 && r.P95 <= r.P99) {
			t.Errorf("%s: percentiles %v %v %v", r.Scenario, r.P50, r.P95, r.P99)
		}
		if s, _ := r.Params["item"].(string); s == "" {
			t.Errorf("%s: Params[item] missing", r.Scenario)
		}
	}
	if res.Ratio <= 0 || res.Ratio != res.Throughput/res.Baseline.Throughput {
		t.Errorf("%s: ratio %v", res.Scenario, res.Ratio)
	}
	var obj map[string]any
	var buf bytes.Buffer
	if err := bench.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
		t.Fatal(err)
	}
	base, _ := obj["baseline"].(map[string]any)
	if obj["scenario"] != res.Scenario || obj["ratio"] == nil || base == nil || base["throughput"] == nil || base["ratio"] != nil {
		t.Errorf("JSON %s", buf.Bytes())
	}
	buf.Reset()
	if err := bench.WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "ratio (throughput ÷ baseline throughput)") || !strings.Contains(buf.String(), res.Baseline.Scenario) {
		t.Errorf("table:\n%s", buf.String())
	}
}

// TestBounds: a duration bound alone ends a phase; no baseline leaves the
// ratio out.
func TestBounds(t *testing.T) {
	t.Parallel()
	res, err := bench.Render(t.Context(), bench.Options{Duration: 300 * time.Millisecond, NoBaseline: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items == 0 || res.Baseline != nil || res.Ratio != 0 {
		t.Fatalf("result %+v", res)
	}
	var buf bytes.Buffer
	if err := bench.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `"ratio"`) || strings.Contains(buf.String(), `"baseline"`) {
		t.Fatalf("JSON without a baseline: %s", buf.String())
	}
}

// TestRefusesForeignDatabase: a database holding data the bench did not
// create is refused before anything is written to it: no migration, no
// marker.
func TestRefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	for name, prepare := range map[string]func(t *testing.T, url string){
		"an evidence log": func(t *testing.T, url string) {
			inStore(t, url, func(ctx context.Context, tx mailbox.Tx) error {
				if _, err := tx.LockLogHead(ctx); err != nil {
					return err
				}
				return tx.SetLogHead(ctx, mailbox.LogHead{Size: 3, Root: make([]byte, 32)})
			})
		},
		"a mailbox, no evidence yet": func(t *testing.T, url string) {
			inStore(t, url, func(ctx context.Context, tx mailbox.Tx) error {
				return tx.CreateMailbox(ctx, mailbox.Mailbox{ID: "m-1", Kind: mailbox.KindPerson, HolderName: "Иванов Иван",
					PersonalID: "3140582A001PB3", HolderKey: "pn:3140582A001PB3", OwnerIdentity: "owner", Address: "г. Минск",
					AddressJSON: []byte(`{}`), MatchKey: "k", Postcode: "220013", Status: mailbox.StatusActive, ActivationHash: []byte{1}, CreatedAt: time.Now()})
			})
		},
		"another application's table": func(t *testing.T, url string) {
			pgExec(t, url, "CREATE TABLE invoices (id int PRIMARY KEY)", "INSERT INTO invoices VALUES (1)")
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := storetest.PostgresURL(t)
			prepare(t, url)
			_, err := bench.Accept(t.Context(), tiny(t, url))
			if !errors.Is(err, bench.ErrUsage) || !strings.Contains(err.Error(), "scratch database") {
				t.Fatalf("err = %v, want ErrUsage asking for a scratch database", err)
			}
			// Nothing written: no npes schema where there was none, no
			// marker where there was one.
			var tables, markers int64
			pgQuery(t, url, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'server_state'`, &tables)
			if tables > 0 {
				pgQuery(t, url, `SELECT count(*) FROM server_state WHERE key LIKE 'npes-bench/%'`, &markers)
			}
			if name == "another application's table" && tables != 0 || markers != 0 {
				t.Fatalf("the refused database was written to: server_state tables %d, bench markers %d", tables, markers)
			}
		})
	}
}

// TestLeaseTouchesOwnJobsOnly: in a database the bench claimed, `bench
// lease` leaves alone print jobs it did not seed (a queued one, and one
// under an expired lease, in a real region), and the database is accepted
// again by a second run.
func TestLeaseTouchesOwnJobsOnly(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	o := tiny(t, url)
	o.NoBaseline = true
	if _, err := bench.Lease(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	foreign := []mailbox.PrintJob{
		{ID: "real-queued", Kind: mailbox.JobLetter, LetterID: "L-1", Region: "231", Postcode: "231300", RecipientName: "Сидоров",
			State: mailbox.JobQueued, AvailableAt: past, CreatedAt: past},
		{ID: "real-expired", Kind: mailbox.JobLetter, LetterID: "L-2", Region: "231", Postcode: "231300", RecipientName: "Петров",
			State: mailbox.JobLeased, AvailableAt: past, CreatedAt: past, LeaseToken: 1, LeaseOwner: "centre", LeaseExpiresAt: past, Attempts: 1},
	}
	inStore(t, url, func(ctx context.Context, tx mailbox.Tx) error {
		for _, j := range foreign {
			if err := tx.CreatePrintJob(ctx, j); err != nil {
				return err
			}
		}
		return nil
	})
	res, err := bench.Lease(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != o.Count {
		t.Fatalf("second run: %d items, want %d", res.Items, o.Count)
	}
	inStore(t, url, func(ctx context.Context, tx mailbox.Tx) error {
		for _, want := range foreign {
			got, err := tx.GetPrintJob(ctx, want.ID, false)
			if err != nil {
				return err
			}
			if got.State != want.State || got.LeaseToken != want.LeaseToken || got.Attempts != want.Attempts || got.LastError != "" || got.LeaseOwner != want.LeaseOwner {
				t.Errorf("job %s was touched: %+v", want.ID, got)
			}
		}
		return nil
	})
}

// inStore runs fn in a transaction of an npes store on url (migrating it).
func inStore(t *testing.T, url string, fn func(context.Context, mailbox.Tx) error) {
	t.Helper()
	st, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.InTx(t.Context(), func(tx mailbox.Tx) error { return fn(t.Context(), tx) }); err != nil {
		t.Fatal(err)
	}
}

func pgExec(t *testing.T, url string, stmts ...string) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, q := range stmts {
		if _, err := c.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func pgQuery(t *testing.T, url, q string, dest ...any) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.QueryRow(t.Context(), q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestUsage: options a scenario cannot honour are refused as usage errors.
func TestUsage(t *testing.T) {
	t.Parallel()
	for name, run := range map[string]func() error{
		"external accept without a recipient": func() error {
			_, err := bench.Accept(context.Background(), bench.Options{Server: "https://127.0.0.1:1", CredentialDir: t.TempDir()})
			return err
		},
		"lease report": func() error {
			_, err := bench.Lease(context.Background(), bench.Options{Report: "posted", TempDir: t.TempDir()})
			return err
		},
	} {
		if err := run(); !errors.Is(err, bench.ErrUsage) {
			t.Errorf("%s: err = %v, want ErrUsage", name, err)
		}
	}
	if _, ok := bench.Lookup("nope"); ok {
		t.Error("Lookup found an unknown scenario")
	}
}
