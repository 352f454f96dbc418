// Package tlsalert makes a server's refusal of a revoked client certificate
// reach the client as the TLS alert certificate_revoked (44; RFC 8446 §6.2,
// RFC 5246 §7.2.2) rather than bad_certificate (42), so that the client can
// tell its holder what happened.
//
// crypto/tls answers every error of tls.Config.VerifyConnection with
// bad_certificate and offers no way to choose the alert. A Rewriter sits
// under crypto/tls instead: its listener wraps each accepted connection, its
// tls.Config marks a connection whose VerifyConnection refused a revoked
// certificate, and the wrapped connection then rewrites the one alert record
// crypto/tls writes next. In TLS 1.2 that record is still plaintext (the
// server has not sent ChangeCipherSpec yet). In TLS 1.3 it is protected with
// the server's application traffic key, so the rewriter keeps that
// connection's secret, which crypto/tls hands to Config.KeyLogWriter (never
// written anywhere: it stays in this process, which holds it anyway), opens
// the record, and seals the new alert under the same key and sequence number
// (RFC 8446 §5.2-5.3, §7.1-7.3). The secret is dropped as soon as the
// handshake's certificate is decided.
//
// Only an exact bad_certificate alert on a connection marked revoked is
// ever changed; anything the rewriter cannot open is sent as crypto/tls
// wrote it, so a failure here costs only the precise alert.
package tlsalert

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS record content types and alert values (RFC 8446 §5.1, §6).
const (
	recordAlert           = 21
	recordApplicationData = 23
	alertLevelFatal       = 2
	alertBadCertificate   = 42
	alertRevoked          = 44
	recordHeaderLen       = 5
	aeadTagLen            = 16
	// maxSeq bounds the sequence numbers tried when opening the alert: the
	// server's first application-key records are the alert itself, or a
	// few session tickets before it on a resumed connection.
	maxSeq = 16
)

// Rewriter rewrites bad_certificate into certificate_revoked on the
// connections of its listeners whose certificate was refused as revoked.
type Rewriter struct {
	revoked func(error) bool
	conns   sync.Map // connKey → *conn
}

// New returns a Rewriter; revoked tells whether an error of the base
// VerifyConnection is a revocation (errors.Is(err, certs.ErrRevoked)).
func New(revoked func(error) bool) *Rewriter {
	return &Rewriter{revoked: revoked}
}

// Listener wraps ln so that its connections can have their alert rewritten.
// Use it under tls.NewListener, or under a server that starts TLS itself
// (SMTP STARTTLS), together with Config.
func (r *Rewriter) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, r: r}
}

// Config returns base with a GetConfigForClient that gives each connection
// of the rewriter's listeners its own copy of base, observing its
// VerifyConnection and its application traffic secret. base must not set
// GetConfigForClient or KeyLogWriter itself. Connections from other
// listeners get base unchanged.
func (r *Rewriter) Config(base *tls.Config) *tls.Config {
	if base.GetConfigForClient != nil || base.KeyLogWriter != nil {
		panic("tlsalert: the base config already sets GetConfigForClient or KeyLogWriter")
	}
	out := base.Clone()
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		v, ok := r.conns.Load(connKey(hello.Conn))
		if !ok {
			return nil, nil
		}
		c := v.(*conn)
		cfg := base.Clone()
		cfg.KeyLogWriter = keyLog{c}
		verify := base.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			var err error
			if verify != nil {
				err = verify(cs)
			}
			c.decided(cs, err != nil && r.revoked(err))
			return err
		}
		return cfg, nil
	}
	return out
}

func connKey(c net.Conn) string {
	return c.LocalAddr().String() + "|" + c.RemoteAddr().String()
}

type listener struct {
	net.Listener
	r *Rewriter
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, r: l.r, key: connKey(nc)}
	l.r.conns.Store(c.key, c)
	return c, nil
}

// conn is an accepted connection. Its Write costs one atomic load until
// the connection is marked revoked.
type conn struct {
	net.Conn
	r       *Rewriter
	key     string
	revoked atomic.Bool
	closed  sync.Once

	mu     sync.Mutex
	secret []byte // TLS 1.3 server application traffic secret, until decided
	suite  uint16
}

func (c *conn) Close() error {
	c.closed.Do(func() {
		c.r.conns.Delete(c.key)
		c.forget()
	})
	return c.Conn.Close()
}

// decided records VerifyConnection's outcome: the secret is kept only to
// rewrite a revocation's alert.
func (c *conn) decided(cs tls.ConnectionState, revoked bool) {
	if !revoked {
		c.forget()
		return
	}
	c.mu.Lock()
	c.suite = cs.CipherSuite
	c.mu.Unlock()
	c.revoked.Store(true)
}

func (c *conn) forget() {
	c.mu.Lock()
	clear(c.secret)
	c.secret = nil
	c.mu.Unlock()
}

func (c *conn) Write(b []byte) (int, error) {
	if c.revoked.Load() {
		if out, ok := c.rewrite(b); ok {
			c.revoked.Store(false)
			c.forget()
			n, err := c.Conn.Write(out)
			return min(n, len(b)), err
		}
	}
	return c.Conn.Write(b)
}

// rewrite returns a copy of b, a run of whole TLS records as crypto/tls
// writes them, with its bad_certificate alert turned into
// certificate_revoked, and whether there was one.
func (c *conn) rewrite(b []byte) ([]byte, bool) {
	out := bytes.Clone(b)
	for off := 0; off+recordHeaderLen <= len(out); {
		n := int(binary.BigEndian.Uint16(out[off+3:]))
		end := off + recordHeaderLen + n
		if end > len(out) {
			break
		}
		rec := out[off:end]
		switch {
		case rec[0] == recordAlert && n == 2 && rec[5] == alertLevelFatal && rec[6] == alertBadCertificate:
			rec[6] = alertRevoked
			return out, true
		case rec[0] == recordApplicationData && n == 3+aeadTagLen:
			if c.reseal(rec) {
				return out, true
			}
		}
		off = end
	}
	return b, false
}

// reseal opens a TLS 1.3 record with the server's application traffic key
// and, if it is the bad_certificate alert, seals certificate_revoked in its
// place (same length, key and nonce).
func (c *conn) reseal(rec []byte) bool {
	c.mu.Lock()
	secret, suite := c.secret, c.suite
	c.mu.Unlock()
	if secret == nil {
		return false
	}
	aead, iv, err := trafficKey(suite, secret)
	if err != nil {
		return false
	}
	hdr, body := rec[:recordHeaderLen], rec[recordHeaderLen:]
	for seq := uint64(0); seq < maxSeq; seq++ {
		nonce := recordNonce(iv, seq)
		pt, err := aead.Open(nil, nonce, body, hdr)
		if err != nil {
			continue
		}
		// TLSInnerPlaintext: the alert, then its content type (RFC 8446 §5.2).
		if !bytes.Equal(pt, []byte{alertLevelFatal, alertBadCertificate, recordAlert}) {
			return false
		}
		pt[1] = alertRevoked
		aead.Seal(body[:0], nonce, pt, hdr)
		return true
	}
	return false
}

// recordNonce is the per-record nonce: the IV XORed with the 64-bit
// sequence number, left-padded (RFC 8446 §5.3).
func recordNonce(iv []byte, seq uint64) []byte {
	nonce := bytes.Clone(iv)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(seq >> (8 * i))
	}
	return nonce
}

// trafficKey derives the record protection key and IV of a TLS 1.3
// traffic secret (RFC 8446 §7.3).
func trafficKey(suite uint16, secret []byte) (cipher.AEAD, []byte, error) {
	var h func() hash.Hash
	var keyLen int
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		h, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		h, keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		h, keyLen = sha256.New, chacha20poly1305.KeySize
	default:
		return nil, nil, fmt.Errorf("tlsalert: not a TLS 1.3 cipher suite: %#04x", suite)
	}
	key, err := expandLabel(h, secret, "key", keyLen)
	if err != nil {
		return nil, nil, err
	}
	iv, err := expandLabel(h, secret, "iv", 12)
	if err != nil {
		return nil, nil, err
	}
	if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		aead, err := chacha20poly1305.New(key)
		return aead, iv, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	return aead, iv, err
}

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(h, secret, string(info), n)
}

// keyLog receives crypto/tls's key log lines for one connection and keeps
// only the server's application traffic secret of TLS 1.3.
type keyLog struct{ c *conn }

const serverTrafficLabel = "SERVER_TRAFFIC_SECRET_0 "

func (k keyLog) Write(line []byte) (int, error) {
	// An error here would fail the handshake: a line not understood is
	// ignored (the alert then stays bad_certificate).
	rest, ok := bytes.CutPrefix(line, []byte(serverTrafficLabel))
	if !ok {
		return len(line), nil
	}
	_, secretHex, ok := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
	if !ok {
		return len(line), nil
	}
	secret := make([]byte, hex.DecodedLen(len(secretHex)))
	if _, err := hex.Decode(secret, secretHex); err != nil {
		return len(line), nil
	}
	k.c.mu.Lock()
	k.c.secret = secret
	k.c.mu.Unlock()
	return len(line), nil
}
