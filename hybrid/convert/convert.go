// Package convert makes PDF renditions of office documents for print with
// LibreOffice in headless mode (DESIGN §6).
//
// Every conversion is one short-lived LibreOffice process, and a hostile
// document is assumed: the process runs in a bubblewrap sandbox with no
// network, no view of the host's files beyond the programs and fonts it
// needs (never the data directory or its keys), a fresh user profile
// copied from a prepared template with macros disabled, an address-space
// limit (RLIMIT_AS through prlimit) and a CPU-time limit, and a wall-clock
// timeout after which its whole process group is killed. The input has
// passed budgets before LibreOffice sees it: a ZIP package's expanded size
// and member count (zip bombs), and the output is bounded too.
//
// Gotenberg, the usual way to run LibreOffice as a service, keeps long-lived
// LibreOffice instances that convert document after document with the
// network and file system of the container; here no document shares a
// process or profile with another, so one hostile document cannot poison
// later conversions or read what they convert.
package convert

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/npes/npes/hybrid/pdf"
	"github.com/npes/npes/hybrid/pool"
	"github.com/npes/npes/mailbox"
)

// Options configure a Converter; a zero field takes its default.
type Options struct {
	// Soffice is the LibreOffice program; "" looks up soffice in PATH.
	Soffice string
	// Bwrap and Prlimit are the sandbox tools; "" looks them up in PATH.
	Bwrap, Prlimit string
	// Workers is how many conversions run at once (DefaultWorkers).
	Workers int
	// Wait is how long a conversion waits for a worker before it is
	// refused as busy (DefaultWait); negative means not at all.
	Wait time.Duration
	// Timeout bounds one conversion's wall-clock time (DefaultTimeout).
	Timeout time.Duration
	// MemoryBytes is each converter's address-space limit
	// (DefaultMemoryBytes).
	MemoryBytes int64
	// MaxExpandedBytes bounds the uncompressed size of a ZIP package's
	// members together (DefaultMaxExpandedBytes).
	MaxExpandedBytes int64
	// MaxOutputBytes bounds the rendition (DefaultMaxOutputBytes).
	MaxOutputBytes int64
	// TempDir holds the profile template and each conversion's work
	// directory; "" means os.TempDir.
	TempDir string
	Logger  *slog.Logger
}

// Defaults.
const (
	// DefaultWorkers: LibreOffice needs about 200 MB and one core while it
	// converts; two at a time keep a small server responsive.
	DefaultWorkers = 2
	// DefaultWait is a conversion's time on a busy machine.
	DefaultWait = 10 * time.Second
	// DefaultTimeout is generous for a hundred-page document; a document
	// that takes longer is refused.
	DefaultTimeout = 60 * time.Second
	// DefaultMemoryBytes is LibreOffice 7.4's address space with room for
	// large documents (it starts in about 600 MB of mappings).
	DefaultMemoryBytes = 1 << 30
	// DefaultMaxExpandedBytes bounds what a ZIP package may expand to.
	DefaultMaxExpandedBytes = 100 << 20
	// MaxZipMembers bounds a package's member count.
	MaxZipMembers = 10000
	// DefaultMaxOutputBytes is the largest PDF attachment printed: a
	// larger rendition would be refused by the PDF checks anyway.
	DefaultMaxOutputBytes = pdf.MaxAttachmentBytes
)

// Converter runs conversions in a bounded pool. It implements
// mailbox.Converter and is safe for concurrent use.
type Converter struct {
	o    Options
	pool *pool.Pool
	log  *slog.Logger

	mu       sync.Mutex
	template string // prepared profile; "" until the first conversion
	baseDir  string
}

var _ mailbox.Converter = (*Converter)(nil)

// ErrNotInstalled means LibreOffice or a sandbox tool is missing.
var ErrNotInstalled = errors.New("convert: LibreOffice or its sandbox is not installed")

// New finds LibreOffice and the sandbox tools. It fails with
// ErrNotInstalled when one is missing: the server then refuses office
// documents for print (conversion_unavailable) and works otherwise. The
// profile template is prepared at the first conversion, so a server that
// never converts never pays for it.
func New(o Options) (*Converter, error) {
	var err error
	for _, p := range []struct {
		path *string
		name string
	}{{&o.Soffice, "soffice"}, {&o.Bwrap, "bwrap"}, {&o.Prlimit, "prlimit"}} {
		if *p.path == "" {
			*p.path = p.name
		}
		if *p.path, err = exec.LookPath(*p.path); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotInstalled, p.name, err)
		}
	}
	// The soffice in PATH is a link to LibreOffice's start script; its
	// directory is bound into the sandbox at the same place.
	if o.Soffice, err = filepath.EvalSymlinks(o.Soffice); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	if o.Workers <= 0 {
		o.Workers = min(DefaultWorkers, runtime.GOMAXPROCS(0))
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	if o.MaxExpandedBytes <= 0 {
		o.MaxExpandedBytes = DefaultMaxExpandedBytes
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Converter{o: o, pool: pool.New(o.Workers, o.Wait, "conversion_busy", "document converters"), log: o.Logger}, nil
}

// Close removes the profile template.
func (c *Converter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.baseDir == "" {
		return nil
	}
	err := os.RemoveAll(c.baseDir)
	c.baseDir, c.template = "", ""
	return err
}

// importFilter names LibreOffice's import filter per format, so a document
// is read as the format it was recognized as and never as whatever
// LibreOffice's own type detection makes of it (an HTML or a macro-enabled
// variant named .doc, say).
var importFilter = map[string]string{
	mailbox.TypeDOCX: "MS Word 2007 XML",
	mailbox.TypeDOC:  "MS Word 97",
	mailbox.TypeODT:  "writer8",
	mailbox.TypeRTF:  "Rich Text Format",
	mailbox.TypeXLSX: "Calc MS Excel 2007 XML",
	mailbox.TypeXLS:  "MS Excel 97",
	mailbox.TypeODS:  "calc8",
}

// ConvertToPDF implements mailbox.Converter.
func (c *Converter) ConvertToPDF(ctx context.Context, name string, f mailbox.OfficeFormat, data []byte) ([]byte, error) {
	filter, ok := importFilter[f.Type]
	if !ok {
		return nil, mailbox.Errorf(mailbox.ErrInvalid, "conversion_failed", "attachment %q: %s documents are not converted", name, f.Name)
	}
	if f.Extension == ".docx" || f.Extension == ".xlsx" || f.Extension == ".odt" || f.Extension == ".ods" {
		if err := c.checkPackage(name, data); err != nil {
			return nil, err
		}
	}
	release, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	template, err := c.prepare(ctx)
	if err != nil {
		c.log.ErrorContext(ctx, "document converter unavailable", "err", err)
		return nil, mailbox.Errorf(mailbox.ErrUnavailable, "conversion_unavailable", "the document converter cannot start; retry later")
	}
	start := time.Now()
	out, err := c.run(ctx, template, false, "document"+f.Extension, filter, data)
	if err != nil {
		c.log.WarnContext(ctx, "conversion refused", "name", name, "format", f.Name, "err", err, "took", time.Since(start))
		return nil, c.refusal(ctx, name, err)
	}
	c.log.InfoContext(ctx, "document converted", "format", f.Name, "bytes", len(data), "pdf_bytes", len(out), "took", time.Since(start))
	return out, nil
}

// Reasons a run fails, mapped to codes by refusal.
var (
	errTimeout   = errors.New("conversion timed out")
	errNoOutput  = errors.New("no PDF produced")
	errTooLarge  = errors.New("PDF too large")
	errNotPDF    = errors.New("output is not a PDF")
	errCrashed   = errors.New("converter failed")
	errResources = errors.New("converter exceeded its limits")
)

func (c *Converter) refusal(ctx context.Context, name string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errTimeout):
		return mailbox.Errorf(mailbox.ErrInvalid, "conversion_timeout",
			"attachment %q could not be converted to PDF within %s", name, c.o.Timeout)
	case errors.Is(err, errTooLarge):
		return mailbox.Errorf(mailbox.ErrInvalid, "conversion_too_large",
			"attachment %q converts to a PDF larger than %d bytes", name, c.o.MaxOutputBytes)
	case errors.Is(err, errResources):
		return mailbox.Errorf(mailbox.ErrInvalid, "conversion_too_large",
			"attachment %q needs more memory or time to convert than a document may", name)
	}
	return mailbox.Errorf(mailbox.ErrInvalid, "conversion_failed",
		"attachment %q could not be converted to PDF (damaged, protected or unsupported content)", name)
}

// checkPackage bounds a ZIP package before LibreOffice expands it: at most
// MaxZipMembers members, and their contents, actually decompressed (a
// member's declared size can lie), at most MaxExpandedBytes together.
func (c *Converter) checkPackage(name string, data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return mailbox.Errorf(mailbox.ErrInvalid, "conversion_failed", "attachment %q is not a readable ZIP package", name)
	}
	if len(zr.File) > MaxZipMembers {
		return mailbox.Errorf(mailbox.ErrInvalid, "conversion_too_large",
			"attachment %q has %d package members, more than %d", name, len(zr.File), MaxZipMembers)
	}
	budget := c.o.MaxExpandedBytes
	tooLarge := mailbox.Errorf(mailbox.ErrInvalid, "conversion_too_large",
		"attachment %q expands to more than %d bytes", name, c.o.MaxExpandedBytes)
	for _, f := range zr.File {
		if f.UncompressedSize64 > uint64(budget) {
			return tooLarge
		}
		rc, err := f.Open()
		if err != nil {
			return mailbox.Errorf(mailbox.ErrInvalid, "conversion_failed", "attachment %q: package member %q cannot be read", name, f.Name)
		}
		n, err := io.Copy(io.Discard, io.LimitReader(rc, budget+1))
		rc.Close()
		if n > budget {
			return tooLarge
		}
		if err != nil {
			return mailbox.Errorf(mailbox.ErrInvalid, "conversion_failed", "attachment %q: package member %q is damaged", name, f.Name)
		}
		budget -= n
	}
	return nil
}

// prepare makes the profile template once: a profile with the security
// settings, completed by one warm-up conversion so that each conversion
// starts from a finished profile (a fresh profile costs LibreOffice a
// restart). A failure is not remembered: the next conversion tries again.
func (c *Converter) prepare(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.template != "" {
		return c.template, nil
	}
	base, err := os.MkdirTemp(c.o.TempDir, "npes-convert-")
	if err != nil {
		return "", err
	}
	template := filepath.Join(base, "profile")
	if err := os.MkdirAll(filepath.Join(template, "user"), 0o700); err != nil {
		os.RemoveAll(base)
		return "", err
	}
	xcu := filepath.Join(template, "user", "registrymodifications.xcu")
	if err := os.WriteFile(xcu, []byte(registry), 0o600); err != nil {
		os.RemoveAll(base)
		return "", err
	}
	warm := []byte(`{\rtf1\ansi npes\par}`)
	if _, err := c.run(ctx, template, true, "warmup.rtf", importFilter[mailbox.TypeRTF], warm); err != nil {
		os.RemoveAll(base)
		return "", fmt.Errorf("warm-up conversion: %w", err)
	}
	// LibreOffice rewrote the profile's settings on exit; it must have
	// kept the security ones.
	got, err := os.ReadFile(xcu)
	if err != nil {
		os.RemoveAll(base)
		return "", err
	}
	if err := checkRegistry(got); err != nil {
		os.RemoveAll(base)
		return "", err
	}
	c.baseDir, c.template = base, template
	return template, nil
}

// run converts data in a fresh work directory with a copy of the profile
// template (the template itself for the warm-up).
func (c *Converter) run(ctx context.Context, profile string, warmup bool, inName, filter string, data []byte) ([]byte, error) {
	work, err := os.MkdirTemp(c.o.TempDir, "npes-conversion-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	for _, d := range []string{"in", "out"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Each conversion works on its own copy of the template; the warm-up
	// works on the template itself, which it completes.
	bindProfile := profile
	if !warmup {
		bindProfile = filepath.Join(work, "profile")
		if err := copyTree(profile, bindProfile); err != nil {
			return nil, fmt.Errorf("copying the profile: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "in", inName), data, 0o600); err != nil {
		return nil, err
	}
	args := c.command(work, bindProfile, inName, filter)
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = []string{} // bwrap sets the sandbox's environment
	var stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	isolate(cmd)
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%w after %s", errTimeout, c.o.Timeout)
	}
	if err != nil {
		if exceededLimits(cmd.ProcessState) {
			return nil, fmt.Errorf("%w: %v: %s", errResources, err, stderr.String())
		}
		return nil, fmt.Errorf("%w: %v: %s", errCrashed, err, stderr.String())
	}
	outPath := filepath.Join(work, "out", strings.TrimSuffix(inName, filepath.Ext(inName))+".pdf")
	fi, err := os.Stat(outPath)
	if err != nil {
		// LibreOffice exits 0 when a filter fails to load the document.
		return nil, fmt.Errorf("%w: %s", errNoOutput, stderr.String())
	}
	if fi.Size() > c.o.MaxOutputBytes {
		return nil, fmt.Errorf("%w: %d bytes", errTooLarge, fi.Size())
	}
	out, err := os.ReadFile(outPath)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(out, []byte("%PDF-")) {
		return nil, errNotPDF
	}
	return out, nil
}

// command builds the sandboxed command line: prlimit, then bwrap, then
// LibreOffice. The sandbox sees /usr (programs, libraries, fonts) and the
// few files of /etc LibreOffice and fontconfig read, read-only; the work
// directory at /w, read-write; nothing else of the host. It has its own
// user, PID, IPC, UTS, cgroup and network namespaces (no network at all:
// only a loopback interface that is down), and dies with its parent.
func (c *Converter) command(work, profile, inName, filter string) []string {
	progDir := filepath.Dir(c.o.Soffice)
	args := []string{c.o.Prlimit,
		"--as=" + strconv.FormatInt(c.o.MemoryBytes, 10),
		// CPU seconds: a backstop for a process that escapes the wall
		// clock (the timeout kills the group first).
		"--cpu=" + strconv.FormatInt(int64(c.o.Timeout/time.Second)+1, 10),
		"--core=0", "--nproc=256", "--nofile=1024",
		"--fsize=" + strconv.FormatInt(c.o.MaxOutputBytes+(64<<20), 10),
		"--",
		c.o.Bwrap, "--unshare-all", "--die-with-parent", "--clearenv",
		"--setenv", "HOME", "/w", "--setenv", "PATH", "/usr/bin", "--setenv", "LANG", "C.UTF-8",
		"--setenv", "TMPDIR", "/tmp", "--setenv", "SAL_USE_VCLPLUGIN", "svp",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
	}
	for _, p := range []string{"/etc/fonts", "/etc/libreoffice", "/etc/ld.so.cache", "/etc/alternatives"} {
		args = append(args, "--ro-bind-try", p, p)
	}
	args = append(args, "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp")
	if !strings.HasPrefix(progDir, "/usr/") {
		args = append(args, "--ro-bind", progDir, progDir)
	}
	args = append(args, "--bind", work, "/w", "--chdir", "/w")
	if profile != filepath.Join(work, "profile") {
		args = append(args, "--bind", profile, "/w/profile")
	}
	return append(args, c.o.Soffice,
		"-env:UserInstallation=file:///w/profile",
		"--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
		"--infilter="+filter, "--convert-to", "pdf", "--outdir", "/w/out", "/w/in/"+inName)
}

// limitedBuffer keeps the first 4 KiB of a converter's output for the log.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// copyTree copies the profile template (regular files and directories
// only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o600)
		}
		return nil // sockets, lock links: not part of a profile to reuse
	})
}
