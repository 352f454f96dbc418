package hybrid

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func printLetter() mailbox.PrintLetter {
	return mailbox.PrintLetter{ID: "0b7c6a52-1f0e-4c57-9a57-3f1f0b1c2d3e", RecipientName: "Петрову П.П.",
		AddressLines: []string{"ул. Советская, д. 1, кв. 1", "г. Гомель", "246050"}, Subject: "Уведомление",
		Body: "Текст", Date: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

// TestRenderPoolBusy: with every worker taken, renders and attachment
// checks fail at once as unavailable (render_busy), a waiting render
// gives up when its context ends, and a free worker renders.
func TestRenderPoolBusy(t *testing.T) {
	t.Parallel()
	r, err := NewPooledRenderer(PoolOptions{Workers: 1, Wait: -1})
	if err != nil {
		t.Fatal(err)
	}
	act := mailbox.PrintActivation{ID: "a1", MailboxID: "m1", RecipientName: "Петрову П.П.",
		AddressLines: []string{"г. Гомель", "246050"}, Code: "K7QX-2M9D", Date: printLetter().Date}
	calls := map[string]func(ctx context.Context) error{
		"letter":     func(ctx context.Context) error { _, err := r.RenderLetter(ctx, printLetter()); return err },
		"activation": func(ctx context.Context) error { _, err := r.RenderActivation(ctx, act); return err },
		"check":      func(context.Context) error { return r.CheckAttachment("a.txt", "text/plain", []byte("текст")) },
	}
	taken, err := r.pool.Acquire(t.Context()) // the only worker
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		err := call(t.Context())
		var de *mailbox.Error
		if !errors.Is(err, mailbox.ErrUnavailable) || !errors.As(err, &de) || de.Code != "render_busy" {
			t.Errorf("%s with the pool full: %v, want render_busy", name, err)
		}
	}
	waiting, err := NewPooledRenderer(PoolOptions{Workers: 1, Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waiting.pool.Acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := waiting.RenderLetter(ctx, printLetter()); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting render with its context cancelled: %v", err)
	}
	taken() // the worker is free again
	for name, call := range calls {
		if err := call(t.Context()); err != nil {
			t.Errorf("%s with a free worker: %v", name, err)
		}
	}
	if n := r.pool.Busy(); n != 0 {
		t.Errorf("%d workers still taken after the renders", n)
	}
}
