package cli

import (
	"bufio"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/npes/npes/internal/token"
)

// openTokenKey opens the key a PKCS#11 URI names: the module from the URI
// or NPES_PKCS11_MODULE, the PIN from NPES_PKCS11_PIN or a prompt. The
// session closes when the command ends (Env.closeAll).
func openTokenKey(e *Env, uri string) (*token.Signer, error) {
	u, err := token.ParseURI(uri)
	if err != nil {
		return nil, usagef("--pkcs11: %v", err)
	}
	pin := e.Getenv("NPES_PKCS11_PIN")
	if pin == "" {
		if pin, err = promptPIN(e, u); err != nil {
			return nil, err
		}
	}
	s, err := token.Open(u, e.Getenv("NPES_PKCS11_MODULE"), pin)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, s.Close)
	return s, nil
}

// promptPIN asks for the token's PIN on standard error and reads it from
// the terminal without echo, or one line of standard input when that is
// not a terminal.
func promptPIN(e *Env, u token.URI) (string, error) {
	name := u.Token
	if name == "" {
		name = u.Serial
	}
	fmt.Fprintf(e.Stderr, "PIN for token %q: ", name)
	if f, ok := e.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.Stderr)
		return string(b), err
	}
	if e.Stdin == nil {
		return "", errors.New("no PIN: set NPES_PKCS11_PIN")
	}
	line, err := bufio.NewReader(e.Stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("no PIN on standard input (set NPES_PKCS11_PIN): %v", err)
	}
	return line, nil
}

// key is the credential's private key on a token, opened once per
// command; nil when --pkcs11 is not given (key.pem is used).
func (o *clientOpts) key() (crypto.Signer, error) {
	if o.pkcs11 == "" {
		return nil, nil
	}
	if o.tok == nil {
		s, err := openTokenKey(o.env, o.pkcs11)
		if err != nil {
			return nil, err
		}
		o.tok = s
	}
	return o.tok, nil
}
