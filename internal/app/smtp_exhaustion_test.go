package app_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/internal/smtpgw"
)

// hogDialer connects from 127.0.0.2, another loopback address (Linux routes
// all of 127.0.0.0/8 to lo), so the gateway sees a second source.
var hogDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}

// TestSMTPConnectionExhaustion: one source that opens many idle
// connections is refused beyond its per-IP cap at accept, so a legitimate
// client from another address still completes a submission.
func TestSMTPConnectionExhaustion(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	p := newSMTPParties(t, b)
	const perIP, total = 3, 6
	implicit, starttls := b.gateway(t, smtpgw.Limits{MaxConnectionsPerIP: perIP, MaxConnections: total})

	// The hog: plaintext connections that say nothing after the greeting,
	// and implicit-TLS connections that never finish a handshake. Together
	// they are more than the total cap.
	var greeted, refused int
	for range total {
		c, err := hogDialer.Dial("tcp", starttls)
		if err != nil {
			t.Fatalf("dial from 127.0.0.2: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		switch {
		case strings.HasPrefix(line, "220"):
			greeted++
		case strings.HasPrefix(line, "421 4.4.5"):
			refused++
		default:
			t.Fatalf("hog connection: %q", line)
		}
	}
	if greeted != perIP || refused != total-perIP {
		t.Fatalf("hog: %d greeted, %d refused; want %d and %d", greeted, refused, perIP, total-perIP)
	}
	for range total {
		c, err := hogDialer.Dial("tcp", implicit)
		if err != nil {
			t.Fatalf("dial from 127.0.0.2: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}

	// 127.0.0.1 gets through and completes a full submission on each
	// listener.
	for _, implicitTLS := range []bool{true, false} {
		addr, msgID := starttls, "hog-starttls@mta.example"
		if implicitTLS {
			addr, msgID = implicit, "hog-implicit@mta.example"
		}
		c := b.dialSMTP(t, &p.org.cred, implicitTLS, addr)
		reply, err := submit(c, p.orgAddr, p.citizenAddr,
			compose(p.orgAddr, msgID, []string{"Subject: through the hog"}, "body\n"))
		if err != nil {
			t.Fatalf("legitimate client (implicit TLS %v): %v", implicitTLS, err)
		}
		letterIDOf(t, reply)
		_ = c.Quit()
	}
}

// TestSMTPGreetingAndIdleTimeouts: a connection that never authenticates,
// whatever it sends meanwhile, and an authenticated one that idles between
// transactions are closed by the server, freeing their slots. Only the
// closing is asserted, never how long it took.
func TestSMTPGreetingAndIdleTimeouts(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	p := newSMTPParties(t, b)
	implicit, starttls := b.gateway(t, smtpgw.Limits{GreetingTimeout: 300 * time.Millisecond})
	// A long greeting deadline, so a slow handshake on a busy machine is not
	// what closes the idle session.
	idle, _ := b.gateway(t, smtpgw.Limits{GreetingTimeout: time.Minute, IdleTimeout: 300 * time.Millisecond})

	// closedBy reads until the server closes the connection; the client's
	// own deadline only keeps a broken server from hanging the test.
	closedBy := func(t *testing.T, c net.Conn, keepAlive string) {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		for {
			if keepAlive != "" {
				if _, err := c.Write([]byte(keepAlive)); err != nil {
					return
				}
			}
			if _, err := r.ReadString('\n'); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("the server never closed the connection")
				}
				return
			}
		}
	}
	for _, tc := range []struct {
		name      string
		dial      func() (net.Conn, error)
		keepAlive string
	}{
		{"silent before the greeting (implicit TLS, no handshake)", func() (net.Conn, error) { return net.Dial("tcp", implicit) }, ""},
		{"silent before EHLO", func() (net.Conn, error) { return net.Dial("tcp", starttls) }, ""},
		{"NOOPs without STARTTLS", func() (net.Conn, error) { return net.Dial("tcp", starttls) }, "NOOP\r\n"},
		{"NOOPs over TLS without a certificate", func() (net.Conn, error) { return tls.Dial("tcp", implicit, b.tlsFor(t, nil)) }, "NOOP\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			closedBy(t, c, tc.keepAlive)
		})
	}
	t.Run("authenticated, idle between transactions", func(t *testing.T) {
		r := b.raw(t, &p.org.cred, idle)
		r.cmd("EHLO client.example", "250")
		r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
		r.cmd("RSET", "250")
		r.expect("421 4.4.2")
		closedBy(t, r.conn, "")
	})
}
