package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// bulkLines is how many letters one `bulk` batch holds.
const bulkLines = 1000

// bulkParallelism is the baseline's worker count: as many as the lines a
// batch submitted at once on the server when the bench was written (now
// mailbox.batchWorkers is 384); kept so ratios stay comparable over time.
const bulkParallelism = 64

// Bulk measures registered letters submitted in batches of bulkLines
// through POST /v1/letter-batches by Concurrency clients, each batch
// followed with GET /v1/letter-batches/{id} until done. An item is a
// letter; its latency runs from its batch's POST until the status shows
// the batch done. Every line must end electronic, without error, or the
// run fails.
//
// Baseline: raw durable single-row INSERTs (as for accept) by
// bulkParallelism workers.
func Bulk(ctx context.Context, o Options) (*Result, error) {
	o.defaults(4000, 1)
	h, cs, to, err := startWithSender(ctx, o)
	if err != nil {
		return nil, err
	}
	defer h.close()
	defer closeClients(cs)
	filler := bodyFiller(o.BodyBytes)
	send := func(ctx context.Context, c *apiClient, items []int64) error {
		var nd bytes.Buffer
		enc := json.NewEncoder(&nd)
		for _, i := range items {
			r := to[(i%int64(len(to))+int64(len(to)))%int64(len(to))]
			if err := enc.Encode(map[string]any{
				"recipient":  map[string]string{"name": r.name, "address": r.address},
				"registered": true, "subject": fmt.Sprintf("Уведомление № %d", i), "body": letterBody(filler, o.BodyBytes, i),
			}); err != nil {
				return err
			}
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		w, err := mw.CreateFormField("letters")
		if err != nil {
			return err
		}
		if _, err := w.Write(nd.Bytes()); err != nil {
			return err
		}
		if err := mw.Close(); err != nil {
			return err
		}
		reply, err := c.do(ctx, "POST", "/v1/letter-batches", mw.FormDataContentType(),
			map[string]string{"Idempotency-Key": uuid.NewString()}, &body, http.StatusAccepted)
		if err != nil {
			return err
		}
		var acc struct {
			StatusURL string `json:"status_url"`
		}
		if err := json.Unmarshal(reply, &acc); err != nil {
			return err
		}
		for {
			raw, err := c.do(ctx, "GET", acc.StatusURL, "", nil, nil, http.StatusOK)
			if err != nil {
				return err
			}
			var st struct {
				State   string
				Done    int
				Failed  int
				Results []struct {
					Route string
					Error *struct{ Code, Message string }
				}
			}
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			switch st.State {
			case "running":
				t := time.NewTimer(100 * time.Millisecond)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				}
				continue
			case "done":
			default:
				return checkf("batch ended %s", st.State)
			}
			if st.Done != len(items) || st.Failed != 0 {
				return checkf("batch of %d: %d done, %d failed: %.300s", len(items), st.Done, st.Failed, raw)
			}
			for _, r := range st.Results {
				if r.Route != "electronic" || r.Error != nil {
					return checkf("a line was not routed electronically: %.300s", raw)
				}
			}
			return nil
		}
	}
	var base *Result
	if !o.NoBaseline {
		bo := o
		bo.Concurrency = bulkParallelism
		if base, err = insertBaseline(ctx, bo, h.dbURL, h.sqlite); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	if err := clientSide(ctx, func(ctx context.Context) error { return send(ctx, cs[0], []int64{-1, -2}) }); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	load := loadAverage()
	res, err := measure(ctx, phase{
		name: "bulk", workers: len(cs), count: o.Count, dur: o.Duration,
		progress: o.Progress, profile: o.CPUProfile, trace: o.Trace, client: true,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			for {
				var items []int64
				for len(items) < bulkLines {
					i, ok := rec.claim(ctx)
					if !ok {
						break
					}
					items = append(items, i)
				}
				if len(items) == 0 {
					return nil
				}
				t0 := time.Now()
				if err := send(ctx, cs[w], items); err != nil {
					return err
				}
				d := time.Since(t0)
				for range items {
					rec.observe(w, d)
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	params := map[string]any{}
	h.describe(params)
	for k, v := range params {
		res.Params[k] = v
	}
	res.Params["item"] = "registered letter, electronic route, in a batch"
	res.Params["latency"] = "a letter's batch: POST /v1/letter-batches until GET shows it done (polled every 100 ms)"
	res.Params["lines_per_batch"] = bulkLines
	res.Params["batches_in_flight"] = len(cs)
	res.Params["body_bytes"] = o.BodyBytes
	res.Params["recipients"] = len(to)
	res.Params["loadavg_before"] = load
	res.Params["loadavg_after"] = loadAverage()
	res.Params["order"] = "baseline first"
	res.setBaseline(base)
	return res, nil
}
