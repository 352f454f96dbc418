package reliability_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// faultProxy is a TCP proxy between npes and PostgreSQL that can cut every
// connection at once (a crashed or restarted database, a broken network
// path mid-transaction) and refuse new ones (a database that is down).
type faultProxy struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	refuse bool

	accepted atomic.Int64
	cutCount atomic.Int64
	wg       sync.WaitGroup
}

func newFaultProxy(t testing.TB, upstream string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			// The port answers and hangs up at once, as a host whose
			// database is stopped answers with a reset.
			_ = c.Close()
			continue
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.pipe(c)
	}
}

func (p *faultProxy) pipe(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, server) {
		return
	}
	var once sync.Once
	done := func() {
		once.Do(func() {
			_ = client.Close()
			_ = server.Close()
			p.mu.Lock()
			delete(p.conns, client)
			delete(p.conns, server)
			p.mu.Unlock()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(server, client); done() }()
	go func() { defer wg.Done(); _, _ = io.Copy(client, server); done() }()
	wg.Wait()
}

// track registers a connection pair unless the proxy refuses by now.
func (p *faultProxy) track(client, server net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse {
		_ = client.Close()
		_ = server.Close()
		return false
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	return true
}

// cut closes every open connection, both ways, and returns how many pairs
// it cut.
func (p *faultProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.cutCount.Add(int64(n))
	return n
}

// down refuses new connections and cuts the open ones; up lets them in
// again.
func (p *faultProxy) down() int {
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	return p.cut()
}

func (p *faultProxy) up() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

func (p *faultProxy) close() {
	_ = p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// viaProxy rewrites a database URL to go through the proxy.
func viaProxy(t testing.TB, dbURL string, p *faultProxy) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr()
	return u.String()
}

// hostOf returns the host:port of a database URL.
func hostOf(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	return host
}
