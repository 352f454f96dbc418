package hybrid

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// zeroPNG is a valid PNG of w×h black pixels in the given bit depth and
// colour type (PNG §11.2.2), written row by row: a few hundred kilobytes
// of file for hundreds of megabytes of pixels.
func zeroPNG(t testing.TB, w, h int, depth, colorType byte) []byte {
	t.Helper()
	chunk := func(b *bytes.Buffer, typ string, data []byte) {
		_ = binary.Write(b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	channels := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
	row := make([]byte, 1+(w*channels*int(depth)+7)/8)
	var idat bytes.Buffer
	z, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	for range h {
		_, _ = z.Write(row)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, colorType
	chunk(&b, "IHDR", ihdr)
	chunk(&b, "IDAT", idat.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// cameraJPEG is a baseline 4:2:0 JPEG of w×h pixels, a smooth gradient.
func cameraJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i / 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// peakHeapGrowth runs f and returns the largest growth of live heap
// objects over what was live before, sampled with the collector running
// eagerly, so garbage waiting for a cycle does not count.
func peakHeapGrowth(f func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 { metrics.Read(sample); return int64(sample[0].Value.Uint64()) }
	base := read()
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if g := read() - base; g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

// TestRenderWorstCasesBoundedHeap sends the worst letters for memory at
// the renderer at once: images whose files are small but whose decoding
// is huge (16-bit, 5000×5000; progressive; just within the decoding
// budget), a camera-size JPEG, a 1 MiB body without a space, and a letter
// with many images. The heap stays within a budget: each render is
// bounded (header checks, one image decoded at a time and downsampled)
// and the pool bounds how many run. It is not parallel: it measures the
// process's heap.
//
// Under the race detector it does not run: every memory access of the
// image decoders is instrumented (one worst-case set takes tens of minutes
// on a loaded two-core machine) and the detector's shadow memory is not
// the heap this test bounds. .ci/run runs it on its own without -race.
func TestRenderWorstCasesBoundedHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("heap bound measured without the race detector (.ci/run runs it separately)")
	}
	const workers = 2
	const budget = 288 << 20                                                           // measured: about 200 MiB with 2 workers, 380 MiB without the pool (8)
	png16 := zeroPNG(t, 2800, 2800, 16, 6)                                             // 60 MiB decoded: just within MaxImageDecodeBytes
	bomb16 := zeroPNG(t, 5000, 5000, 16, 6)                                            // 191 MiB decoded: refused from the header
	rgba8 := zeroPNG(t, 4000, 4000, 8, 6)                                              // 61 MiB decoded
	progressive := []byte{0xFF, 0xD8, 0xFF, 0xC2, 0, 17, 8, 0x17, 0x70, 0x1F, 0x40, 3, // progressive 8000×6000
		1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0}
	camera := cameraJPEG(t, 6000, 4000)
	att := func(name, ct string, data []byte) mailbox.PrintAttachment {
		return mailbox.PrintAttachment{Name: name, ContentType: ct, Data: data}
	}
	var many []mailbox.PrintAttachment
	for range 4 {
		many = append(many, att("scan.png", "image/png", rgba8), att("photo.jpg", "image/jpeg", camera))
	}
	letters := map[string][]mailbox.PrintAttachment{
		"16-bit PNG within budget": {att("a.png", "image/png", png16)},
		"16-bit PNG again":         {att("b.png", "image/png", png16)},
		"16-bit PNG 5000×5000":     {att("bomb.png", "image/png", bomb16)},
		"progressive JPEG":         {att("p.jpg", "image/jpeg", progressive)},
		"camera JPEG":              {att("c.jpg", "image/jpeg", camera)},
		"RGBA PNG":                 {att("r.png", "image/png", rgba8)},
		"many images":              many,
		"1 MiB body":               nil,
	}
	r, err := NewPooledRenderer(PoolOptions{Workers: workers, Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var failed sync.Map
	grew := peakHeapGrowth(func() {
		var wg sync.WaitGroup
		for name, atts := range letters {
			wg.Go(func() {
				l := printLetter()
				l.Attachments = atts
				if name == "1 MiB body" {
					l.Body = strings.Repeat("абвгдеёжзийклмнопрстуфхцчшщъыьэюя0123456789", 1<<20/76)
				}
				if _, err := r.RenderLetter(t.Context(), l); err != nil {
					failed.Store(name, err)
				}
			})
		}
		wg.Wait()
	})
	t.Logf("peak heap growth rendering %d worst-case letters with %d workers: %d MiB", len(letters), workers, grew>>20)
	for _, name := range []string{"16-bit PNG 5000×5000", "progressive JPEG"} {
		if _, ok := failed.LoadAndDelete(name); !ok {
			t.Errorf("%s: rendered, want it refused from its header", name)
		}
	}
	failed.Range(func(name, err any) bool {
		t.Errorf("%s: %v", name, err)
		return true
	})
	if grew > budget {
		t.Fatalf("heap grew by %d MiB rendering worst cases, budget %d MiB", grew>>20, budget>>20)
	}
}
