package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/mailbox"
)

// dataFlags registers --data and --database-url, which every command that
// works on the data directory and its database takes (init, serve, ca,
// audit), after reading the NPES_* defaults into cfg.
func dataFlags(fs *flag.FlagSet, e *Env, cfg *app.Config) {
	*cfg = app.FromEnv(e.Getenv)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (NPES_DATA)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "PostgreSQL URL; empty means SQLite in the data directory (NPES_DATABASE_URL)")
}

// masterKeyFlag is for the commands that create or read content keys.
func masterKeyFlag(fs *flag.FlagSet, cfg *app.Config) {
	fs.StringVar(&cfg.MasterKeyFile, "master-key-file", cfg.MasterKeyFile, "content master key file (NPES_MASTER_KEY_FILE; default DATA/master.key)")
}

// hostnameFlag is for the commands that may write the server certificate.
func hostnameFlag(fs *flag.FlagSet, cfg *app.Config) {
	fs.Func("hostname", "extra DNS name or IP for the server certificate, repeatable or comma separated (NPES_HOSTNAMES)", func(v string) error {
		cfg.Hostnames = append(cfg.Hostnames, app.SplitList(v)...)
		return nil
	})
}

// serverFlags registers every flag of the data directory, the database and
// the server's limits: those of `npes serve`.
func serverFlags(fs *flag.FlagSet, e *Env, cfg *app.Config) {
	dataFlags(fs, e, cfg)
	hostnameFlag(fs, cfg)
	masterKeyFlag(fs, cfg)
	d := mailbox.DefaultLimits()
	fs.IntVar(&cfg.Limits.MaxPendingMailboxes, "max-pending-mailboxes", cfg.Limits.MaxPendingMailboxes,
		fmt.Sprintf("mailboxes one holder may have awaiting proof of address; 0 means %d (NPES_MAX_PENDING_MAILBOXES)", d.MaxPendingMailboxes))
	fs.IntVar(&cfg.Limits.MaxActivationLetters, "max-activation-letters", cfg.Limits.MaxActivationLetters,
		fmt.Sprintf("activation letters per mailbox, the first included; 0 means %d (NPES_MAX_ACTIVATION_LETTERS)", d.MaxActivationLetters))
	fs.IntVar(&cfg.Limits.MaxActivationLettersPerDay, "max-activation-letters-per-day", cfg.Limits.MaxActivationLettersPerDay,
		fmt.Sprintf("activation letters for one holder's mailboxes in 24 hours; 0 means %d (NPES_MAX_ACTIVATION_LETTERS_PER_DAY)", d.MaxActivationLettersPerDay))
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func logger(e *Env, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: l}))
}

func runInit(ctx context.Context, e *Env, args []string) error {
	var cfg app.Config
	fs := newFlags(e, "init", "init [--data DIR] [--database-url URL] [--hostname NAME]... [--master-key-file FILE]")
	dataFlags(fs, e, &cfg)
	hostnameFlag(fs, &cfg)
	masterKeyFlag(fs, &cfg)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	d, created, err := app.Initialize(ctx, cfg)
	if err != nil {
		return err
	}
	if len(created) == 0 {
		fmt.Fprintf(e.Stdout, "data directory %s is already initialized; nothing was changed\n", d.Root)
		return nil
	}
	fmt.Fprintf(e.Stdout, "initialized %s:\n", d.Root)
	for _, p := range created {
		fmt.Fprintf(e.Stdout, "  %s\n", p)
	}
	fmt.Fprintf(e.Stdout, "operator credential: %s\n", d.OperatorCredentialDir())
	return nil
}

func runServe(ctx context.Context, e *Env, args []string) error {
	var cfg app.Config
	fs := newFlags(e, "serve", "serve [--data DIR] [--database-url URL] [--http-addr ADDR] [--smtp-addr ADDR] [--smtps-addr ADDR] [--smtp-relay HOST:PORT] [--mail-domain DOMAIN] [--conn-max-lifetime D] [flags]")
	serverFlags(fs, e, &cfg)
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "mTLS API listen address (NPES_HTTP_ADDR)")
	fs.StringVar(&cfg.SMTPAddr, "smtp-addr", cfg.SMTPAddr, `SMTP submission listen address, STARTTLS required; "off" disables it (NPES_SMTP_ADDR)`)
	fs.StringVar(&cfg.SMTPSAddr, "smtps-addr", cfg.SMTPSAddr, `SMTP implicit-TLS listen address; "off" disables it (NPES_SMTPS_ADDR)`)
	fs.StringVar(&cfg.SMTPRelay, "smtp-relay", cfg.SMTPRelay, "host:port of the SMTP relay for notification emails; empty disables them (NPES_SMTP_RELAY)")
	fs.StringVar(&cfg.MailDomain, "mail-domain", cfg.MailDomain, "mail domain of mailbox addresses <mailbox-id>@DOMAIN (NPES_MAIL_DOMAIN)")
	fs.BoolVar(&cfg.DevActivationCodes, "dev-activation-codes", cfg.DevActivationCodes, "development only: log mailbox activation codes instead of relying on the printed letter (NPES_DEV_ACTIVATION_CODES)")
	fs.Func("conn-max-lifetime", "close an API connection after a response once it is this old, so clients handshake again; a duration of at least 1s (NPES_CONN_MAX_LIFETIME; default 10m)", func(v string) error {
		d, err := app.ParseLifetime(v)
		if err != nil {
			return err
		}
		cfg.SetConnMaxLifetime(d)
		return nil
	})
	fs.DurationVar(&cfg.WebSessionIdle, "web-session-idle", cfg.WebSessionIdle, "end a web portal session after this much inactivity (NPES_WEB_SESSION_IDLE; default 15m)")
	fs.DurationVar(&cfg.WebSessionMax, "web-session-max", cfg.WebSessionMax, "end a web portal session this long after sign-in, however active (NPES_WEB_SESSION_MAX; default 12h)")
	fs.StringVar(&cfg.WebOrigin, "web-origin", cfg.WebOrigin, "the portal's https origin as browsers reach it, such as https://post.example or https://localhost:8443; its host name (not an IP address) is the WebAuthn RP ID, so changing it invalidates every passkey; empty disables passkeys (NPES_WEB_ORIGIN)")
	fs.StringVar(&cfg.Soffice, "soffice", cfg.Soffice, `LibreOffice's soffice, which converts DOCX, DOC, ODT, RTF, XLSX, XLS and ODS attachments for print; empty looks it up in PATH, "off" refuses office documents on letters that may be printed (NPES_SOFFICE)`)
	fs.IntVar(&cfg.ConvertWorkers, "convert-workers", cfg.ConvertWorkers, "office conversions that run at once; more wait, then get 503 conversion_busy (NPES_CONVERT_WORKERS; default 2)")
	fs.DurationVar(&cfg.ConvertTimeout, "convert-timeout", cfg.ConvertTimeout, "time one office conversion may take before it is killed and the document refused (NPES_CONVERT_TIMEOUT; default 60s)")
	fs.Func("convert-memory", "address-space limit of each office converter, bytes or with a MiB/GiB suffix (NPES_CONVERT_MEMORY; default 1GiB)", func(v string) error {
		n, err := app.ParseSize(v)
		cfg.ConvertMemory = n
		return err
	})
	level := fs.String("log-level", orDefault(e.Getenv("NPES_LOG_LEVEL"), "info"), "debug, info, warn or error (NPES_LOG_LEVEL)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg.Logger = logger(e, *level)
	cfg.Out = e.Stdout
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := app.Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		cfg.Logger.Info("shutting down: finishing in-flight requests")
	case <-srv.Done():
	}
	stop()
	err = srv.Shutdown(context.Background())
	if lerr := srv.Err(); lerr != nil {
		return lerr
	}
	return err
}

var caCommands = []subcommand{
	{"issue", "issue a credential (cert.pem, key.pem, ca.pem)", runCAIssue},
	{"revoke", "revoke a certificate by serial", runCARevoke},
	{"list", "list every certificate issued, with its status", runCAList},
}

func runCAIssue(ctx context.Context, e *Env, args []string) error {
	var cfg app.Config
	fs := newFlags(e, "ca issue", "ca issue --role person|org|printcenter|operator --name NAME [--personal-id ID] [--unp UNP] [--regions 220,222] [--days N] [--csr FILE] --out DIR [--data DIR] [--database-url URL]")
	dataFlags(fs, e, &cfg)
	role := fs.String("role", "", "person, org, printcenter or operator")
	name := fs.String("name", "", "holder's name (person or organization)")
	pid := fs.String("personal-id", "", "personal number of a person (14 characters, e.g. 3140582A001PB3)")
	unp := fs.String("unp", "", "UNP of an organization (9 digits)")
	regions := fs.String("regions", "", "postcode prefixes a print centre serves, comma separated (e.g. 220,222)")
	days := fs.Int("days", 0, "lifetime in days (default: the role's short default)")
	out := fs.String("out", "", "directory to write cert.pem, key.pem and ca.pem into (with --csr: cert.pem and ca.pem)")
	csrFile := fs.String("csr", "", "PEM certificate request (`npes csr`): certify its key, which stays on the token; its subject is ignored")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	if *role == "" {
		return usagef("--role is required (person, org, printcenter or operator)")
	}
	ca, err := app.OpenCA(ctx, cfg)
	if err != nil {
		return err
	}
	defer ca.Close()
	req := certs.Request{
		Role: certs.Role(*role), Name: *name, PersonalID: *pid, UNP: *unp,
		Regions: app.SplitList(*regions), Days: *days,
	}
	var csr *x509.CertificateRequest
	if *csrFile != "" {
		if csr, err = readCSR(*csrFile); err != nil {
			return err
		}
	}
	var cred certs.Credential
	files := "{cert.pem,key.pem,ca.pem}"
	if csr != nil {
		cred, err = ca.IssueCSR(ctx, req, csr, *out)
		files = "{cert.pem,ca.pem} (the key stays on the token)"
	} else {
		cred, err = ca.Issue(ctx, req, *out)
	}
	if err != nil {
		return err
	}
	id, _ := certs.IdentityFromCert(cred.Cert)
	fmt.Fprintf(e.Stdout, "issued %s certificate for %q, serial %s, valid until %s\n", id.Role, id.Name, id.Serial, cred.Cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.Stdout, "wrote %s/%s\n", *out, files)
	return nil
}

// readCSR reads one PEM certificate request (RFC 2986, RFC 7468 §7).
func readCSR(path string) (*x509.CertificateRequest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(data)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, fmt.Errorf("%s: not a PEM CERTIFICATE REQUEST", path)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%s: data after the certificate request", path)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return csr, nil
}

func runCARevoke(ctx context.Context, e *Env, args []string) error {
	var cfg app.Config
	fs := newFlags(e, "ca revoke", "ca revoke --serial S [--reason R] [--data DIR] [--database-url URL]")
	dataFlags(fs, e, &cfg)
	serialFlag := fs.String("serial", "", "serial as `openssl x509 -serial` prints it")
	reasonFlag := fs.String("reason", "unspecified", "RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn or aACompromise")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serialFlag == "" {
		return usagef("--serial is required")
	}
	serial, err := certs.ParseSerial(*serialFlag)
	if err != nil {
		return err
	}
	reason, err := certs.ParseReason(*reasonFlag)
	if err != nil {
		return err
	}
	ca, err := app.OpenCA(ctx, cfg)
	if err != nil {
		return err
	}
	defer ca.Close()
	rec, err := ca.Revoke(ctx, certs.FormatSerial(serial), reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "revoked %s (%s %q) at %s\n", rec.Serial, rec.Role, rec.Name, rec.RevokedAt.Format(time.RFC3339))
	return nil
}

func runCAList(ctx context.Context, e *Env, args []string) error {
	var cfg app.Config
	fs := newFlags(e, "ca list", "ca list [--data DIR] [--database-url URL]")
	dataFlags(fs, e, &cfg)
	if err := parse(fs, args); err != nil {
		return err
	}
	ca, err := app.OpenCA(ctx, cfg)
	if err != nil {
		return err
	}
	defer ca.Close()
	all, err := ca.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tROLE\tNAME\tNOT AFTER\tSTATUS")
	for _, c := range all {
		status := "valid"
		switch {
		case c.Revoked():
			status = "revoked " + c.RevokedAt.Format(time.RFC3339)
		case time.Now().After(c.NotAfter):
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Serial, c.Role, strings.ReplaceAll(c.Name, "\t", " "), c.NotAfter.Format(time.RFC3339), status)
	}
	return tw.Flush()
}
