package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/internal/token"
)

// DefaultServer is the API address of a local `npes serve`.
const DefaultServer = "https://127.0.0.1:8443"

// clientOpts are the flags every client command takes.
type clientOpts struct {
	server string
	id     string
	json   bool
	// pkcs11 is an RFC 7512 URI of the private key on a token, which
	// replaces key.pem for TLS and for signing statements.
	pkcs11 string
	env    *Env
	tok    *token.Signer
}

func clientFlags(fs *flag.FlagSet, e *Env, o *clientOpts) {
	o.env = e
	fs.StringVar(&o.server, "server", orDefault(e.Getenv("NPES_SERVER"), DefaultServer), "server URL (NPES_SERVER)")
	fs.StringVar(&o.id, "id", e.Getenv("NPES_ID"), "credential directory with cert.pem, key.pem, ca.pem (NPES_ID); with --pkcs11 only cert.pem and ca.pem")
	fs.BoolVar(&o.json, "json", false, "print the API's JSON reply unchanged")
	fs.StringVar(&o.pkcs11, "pkcs11", e.Getenv("NPES_PKCS11_URI"), "PKCS#11 URI of the private key on a token, e.g. 'pkcs11:token=npes;object=me' (RFC 7512; NPES_PKCS11_URI); module from NPES_PKCS11_MODULE, PIN from NPES_PKCS11_PIN or a prompt")
}

func (o *clientOpts) client() (*client.Client, error) {
	if o.id == "" {
		return nil, usagef("--id DIR (or NPES_ID) is required: the credential directory written by `npes ca issue`")
	}
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	if key == nil {
		return client.New(o.server, o.id)
	}
	return client.NewWithKey(o.server, o.id, key)
}

func runWhoami(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "whoami", "whoami --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var who map[string]any
	raw, err := c.JSON(ctx, "GET", "/v1/whoami", nil, &who)
	if err != nil {
		return err
	}
	if o.json {
		_, err := e.Stdout.Write(raw)
		return err
	}
	for _, k := range []string{"role", "name", "personal_id", "unp", "regions", "serial", "identity", "not_after"} {
		if v, ok := who[k]; ok {
			if l, ok := v.([]any); ok {
				parts := make([]string, len(l))
				for i := range l {
					parts[i] = fmt.Sprint(l[i])
				}
				v = strings.Join(parts, ",")
			}
			fmt.Fprintf(e.Stdout, "%-12s %v\n", k+":", v)
		}
	}
	return nil
}
