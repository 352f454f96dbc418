package app_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// peakHeap samples the heap while f runs and returns the largest growth
// over the heap before it. The collector runs eagerly meanwhile, so the
// figure reflects what is held, not garbage waiting for a cycle.
func peakHeap(f func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapAlloc)
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if g := int64(m.HeapAlloc) - base; g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// TestBigLetterBoundedMemory sends a 24 MiB attachment through the HTTP API
// and reads it back: the server's heap grows by far less than the letter
// (< 64 MiB growth for a 25 MiB letter), because attachments stream
// through encrypted temporary files and 256 KiB chunks.
func TestBigLetterBoundedMemory(t *testing.T) {
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	const size = 24 << 20
	block := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	want := sha256.New()
	for range size / len(block) {
		want.Write(block)
	}
	var sent sendReply
	grew := peakHeap(func() {
		pr, pw := io.Pipe()
		go func() {
			fmt.Fprintf(pw, "--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"recipient\":{\"name\":\"Иванов И.И.\",\"address\":%q},\"body\":\"big\"}\r\n", citizenAddress)
			fmt.Fprint(pw, "--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
			for range size / len(block) {
				if _, err := pw.Write(block); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			fmt.Fprint(pw, "\r\n--B--\r\n")
			pw.Close()
		}()
		status, data := org.do("POST", "/v1/letters", pr, "multipart/form-data; boundary=B", nil, &sent)
		if status != 201 {
			t.Fatalf("24 MiB letter: %d %s", status, data)
		}
	})
	t.Logf("heap growth while accepting 24 MiB: %d MiB", grew>>20)
	if grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB accepting a 24 MiB letter", grew>>20)
	}
	var v mailbox.LetterView
	citizen.mustJSON("GET", "/v1/letters/"+sent.ID, nil, &v, 200)
	got := sha256.New()
	grew = peakHeap(func() {
		req, _ := http.NewRequest("GET", b.base+"/v1/letters/"+sent.ID+"/attachments/1", nil)
		resp, err := citizen.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(got, resp.Body); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("heap growth while reading it back: %d MiB", grew>>20)
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the attachment read back differs")
	}
	if grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB reading a 24 MiB attachment", grew>>20)
	}
}
