package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// printRaw writes the API's JSON reply (--json), with the characters a
// terminal would interpret escaped (jsonTermSafe); the JSON means the same.
func printRaw(e *Env, raw []byte) error {
	_, err := e.Stdout.Write(jsonTermSafe(raw))
	if err == nil && !bytes.HasSuffix(raw, []byte("\n")) {
		_, err = io.WriteString(e.Stdout, "\n")
	}
	return err
}

var mailboxCommands = []subcommand{
	{"register", "ask for a mailbox at a postal address (pending until the address is proven)", runMailboxRegister},
	{"activate", "prove the address with the code from the activation letter", runMailboxActivate},
	{"resend", "send another activation letter (its code replaces the old one)", runMailboxResend},
	{"show", "list your mailboxes", runMailboxShow},
}

func runMailboxRegister(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox register", "mailbox register --address A [--email E] --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	address := fs.String("address", "", "postal address of the mailbox")
	email := fs.String("email", "", "address for notifications (optional)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *address == "" {
		return usagef("--address is required")
	}
	return mailboxCall(ctx, e, o, "POST", "/v1/mailboxes", map[string]string{"address": *address, "email": *email})
}

func runMailboxActivate(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox activate", "mailbox activate --code C [--mailbox ID] --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	code := fs.String("code", "", "activation code from the letter")
	id := fs.String("mailbox", "", "mailbox id (default: your only pending mailbox)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *code == "" {
		return usagef("--code is required")
	}
	mb, err := mailboxOrPending(ctx, o, *id)
	if err != nil {
		return err
	}
	return mailboxCall(ctx, e, o, "POST", "/v1/mailboxes/"+mb+"/activate", map[string]string{"code": *code})
}

func runMailboxResend(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox resend", "mailbox resend [--mailbox ID] --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	id := fs.String("mailbox", "", "mailbox id (default: your only pending mailbox)")
	if err := parse(fs, args); err != nil {
		return err
	}
	mb, err := mailboxOrPending(ctx, o, *id)
	if err != nil {
		return err
	}
	return mailboxCall(ctx, e, o, "POST", "/v1/mailboxes/"+mb+"/activation-letter", nil)
}

func runMailboxShow(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox show", "mailbox show --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var me struct {
		Mailboxes []struct {
			ID          string    `json:"id"`
			Status      string    `json:"status"`
			Address     string    `json:"address"`
			MailAddress string    `json:"mail_address"`
			CreatedAt   time.Time `json:"created_at"`
		} `json:"mailboxes"`
	}
	raw, err := c.JSON(ctx, "GET", "/v1/mailboxes/me", nil, &me)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	if len(me.Mailboxes) == 0 {
		fmt.Fprintln(e.Stdout, "no mailboxes yet: `npes mailbox register --address A`")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tADDRESS\tMAIL ADDRESS\tCREATED")
	for _, m := range me.Mailboxes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Status, termSafe(m.Address, false), m.MailAddress, m.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// mailboxOrPending is the mailbox named by --mailbox, else the caller's
// only pending mailbox.
func mailboxOrPending(ctx context.Context, o clientOpts, id string) (string, error) {
	if id != "" {
		return id, nil
	}
	c, err := o.client()
	if err != nil {
		return "", err
	}
	return pendingMailbox(ctx, c)
}

func pendingMailbox(ctx context.Context, c *client.Client) (string, error) {
	var me struct {
		Mailboxes []struct{ ID, Status string } `json:"mailboxes"`
	}
	if _, err := c.JSON(ctx, "GET", "/v1/mailboxes/me", nil, &me); err != nil {
		return "", err
	}
	var ids []string
	for _, m := range me.Mailboxes {
		if m.Status == mailbox.StatusPending {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("you have %d pending mailboxes: name one with --mailbox", len(ids))
	}
	return ids[0], nil
}

func mailboxCall(ctx context.Context, e *Env, o clientOpts, method, path string, in any) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	var m map[string]any
	raw, err := c.JSON(ctx, method, path, in, &m)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	fmt.Fprintf(e.Stdout, "mailbox %v: %v at %q\n", m["id"], m["status"], m["address"])
	if m["status"] == mailbox.StatusPending {
		fmt.Fprintln(e.Stdout, "an activation code is on its way by post; then run `npes mailbox activate --code CODE`")
	}
	return nil
}

var adminCommands = []subcommand{
	{"verify-address", "operator: prove a pending mailbox's address at a counter", runAdminVerifyAddress},
}

func runAdminVerifyAddress(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "admin verify-address", "admin verify-address MAILBOX_ID --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("give exactly one MAILBOX_ID")
	}
	return mailboxCall(ctx, e, o, "POST", "/v1/admin/mailboxes/"+fs.Arg(0)+"/verify", nil)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runSend(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "send", "send --to-name N --to-address A [--registered] [--subject S] [--body TEXT | --body-file F] [--attach FILE]... [--print-if-unsigned PERIOD] [--acceptance-period PERIOD] [--language be|ru] --server URL --id DIR")
	clientFlags(fs, e, &o)
	toName := fs.String("to-name", "", "recipient's name as on an envelope")
	toAddr := fs.String("to-address", "", "recipient's postal address")
	registered := fs.Bool("registered", false, "registered letter: the recipient signs for it")
	subject := fs.String("subject", "", "subject")
	body := fs.String("body", "", "body text")
	bodyFile := fs.String("body-file", "", "file with the body text ('-' for standard input)")
	piu := fs.String("print-if-unsigned", "", "registered: print and post the letter if not signed for within PERIOD (e.g. 10d or 240h)")
	period := fs.String("acceptance-period", "", "registered: time the recipient has to accept or refuse, PERIOD (e.g. 10d; default 10d)")
	language := fs.String("language", "", "language of the printed letter's labels: be (Belarusian) or ru (Russian); default: detected from the text")
	key := fs.String("idempotency-key", "", "Idempotency-Key (default: a new random key; reuse it to retry safely)")
	var attach stringList
	fs.Var(&attach, "attach", "attach a file (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *toName == "" || *toAddr == "" {
		return usagef("--to-name and --to-address are required")
	}
	if *language != "" && *language != "be" && *language != "ru" {
		return usagef("--language must be be or ru")
	}
	if *body != "" && *bodyFile != "" {
		return usagef("give --body or --body-file, not both")
	}
	for _, p := range []struct{ flag, v string }{{"--print-if-unsigned", *piu}, {"--acceptance-period", *period}} {
		if p.v == "" {
			continue
		}
		if _, err := mailbox.ParsePeriod(p.v); err != nil {
			return usagef("%s: %v", p.flag, err)
		}
	}
	if *bodyFile != "" {
		var b []byte
		var err error
		if *bodyFile == "-" {
			b, err = io.ReadAll(e.Stdin)
		} else {
			b, err = os.ReadFile(*bodyFile)
		}
		if err != nil {
			return err
		}
		*body = string(b)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	letter := map[string]any{
		"recipient":  map[string]string{"name": *toName, "address": *toAddr},
		"registered": *registered, "subject": *subject, "body": *body,
	}
	if *piu != "" {
		letter["print_if_unsigned_after"] = *piu
	}
	if *period != "" {
		letter["acceptance_period"] = *period
	}
	if *language != "" {
		letter["language"] = *language
	}
	// The multipart body streams from the files through a pipe: memory does
	// not grow with attachment size.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeSubmission(mw, letter, attach))
	}()
	if *key == "" {
		*key = uuid.NewString()
	}
	req, err := c.NewRequest(ctx, "POST", "/v1/letters", mw.FormDataContentType(), pr)
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", *key)
	raw, err := c.DoRequest(req)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	var v mailbox.LetterView
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "letter %s accepted: route %s", v.ID, v.Route)
	if v.RouteReason != "" {
		fmt.Fprintf(e.Stdout, " (%s)", v.RouteReason)
	}
	fmt.Fprintf(e.Stdout, ", state %s", v.State)
	if v.Tracking != "" {
		fmt.Fprintf(e.Stdout, ", tracking %s", v.Tracking)
	}
	fmt.Fprintln(e.Stdout)
	return nil
}

func writeSubmission(mw *multipart.Writer, letter map[string]any, files []string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="letter"`)
	h.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(w).Encode(letter); err != nil {
		return err
	}
	for _, p := range files {
		if err := writeFilePart(mw, "attachment", p); err != nil {
			return err
		}
	}
	return mw.Close()
}

func writeFilePart(mw *multipart.Writer, field, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := mw.CreateFormFile(field, filepath.Base(path))
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

func runList(folder string) func(context.Context, *Env, []string) error {
	return func(ctx context.Context, e *Env, args []string) error {
		var o clientOpts
		fs := newFlags(e, folder, folder+" [--cursor C] --server URL --id DIR [--json]")
		clientFlags(fs, e, &o)
		cursor := fs.String("cursor", "", "continue after a previous page")
		if err := parse(fs, args); err != nil {
			return err
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		var page struct {
			Letters    []mailbox.LetterView `json:"letters"`
			NextCursor string               `json:"next_cursor"`
		}
		raw, err := c.JSON(ctx, "GET", "/v1/letters?folder="+folder+"&cursor="+*cursor, nil, &page)
		if err != nil {
			return err
		}
		if o.json {
			return printRaw(e, raw)
		}
		tw := tabwriter.NewWriter(e.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDATE\tFROM/TO\tSUBJECT\tSTATE\tTRACKING")
		for _, l := range page.Letters {
			who := l.Sender.Name
			if folder == "sent" {
				who = l.Recipient.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", termSafe(l.ID, false), l.CreatedAt.Local().Format("2006-01-02 15:04"),
				termSafe(who, false), termSafe(l.Subject, false), termSafe(l.State, false), termSafe(l.Tracking, false))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.NextCursor != "" {
			fmt.Fprintf(e.Stdout, "more: --cursor %s\n", page.NextCursor)
		}
		return nil
	}
}

func oneID(fs interface {
	NArg() int
	Arg(int) string
}) (string, error) {
	if fs.NArg() != 1 {
		return "", usagef("give exactly one letter ID")
	}
	return fs.Arg(0), nil
}

// letterArgs parses the flags of a command about one letter and returns
// the letter ID and a client.
func letterArgs(fs *flag.FlagSet, args []string, o *clientOpts) (string, *client.Client, error) {
	if err := parse(fs, args); err != nil {
		return "", nil, err
	}
	id, err := oneID(fs)
	if err != nil {
		return "", nil, err
	}
	c, err := o.client()
	return id, c, err
}

func runRead(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "read", "read ID [--out DIR] --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	out := fs.String("out", "", "write body.txt and each attachment under its name into DIR")
	id, c, err := letterArgs(fs, args, &o)
	if err != nil {
		return err
	}
	var content mailbox.Content
	raw, err := c.JSON(ctx, "GET", "/v1/letters/"+id+"/content", nil, &content)
	if err != nil {
		return err
	}
	if *out == "" {
		if o.json {
			return printRaw(e, raw)
		}
		var v mailbox.LetterView
		if _, err := c.JSON(ctx, "GET", "/v1/letters/"+id, nil, &v); err != nil {
			return err
		}
		return writeLetter(e.Stdout, v, content)
	}
	// The server refuses unsafe names; check again here, by the same rule:
	// the client must not trust the server with its file system.
	if err := checkOutNames(content.Attachments); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	if err := writePrivate(filepath.Join(*out, mailbox.BodyFileName), []byte(content.Body)); err != nil {
		return err
	}
	for i, a := range content.Attachments {
		data, err := c.Do(ctx, "GET", fmt.Sprintf("/v1/letters/%s/attachments/%d", id, i+1), "", nil)
		if err != nil {
			return err
		}
		if signing.DigestHex(data) != a.SHA256 {
			return fmt.Errorf("attachment %q: digest mismatch", termSafe(a.Name, false))
		}
		if err := writePrivate(filepath.Join(*out, a.Name), data); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.Stdout, "wrote body.txt and %d attachments to %s\n", len(content.Attachments), *out)
	return nil
}

// writeLetter shows a letter as a mail reader does: who sent it, the
// subject, the date and the attachments, then the body.
func writeLetter(w io.Writer, v mailbox.LetterView, content mailbox.Content) error {
	var b strings.Builder
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-12s %s\n", name+":", termSafe(value, false))
		}
	}
	from := v.Sender.Name
	if v.Sender.Address != "" {
		from += " (" + v.Sender.Address + ")"
	}
	field("From", from)
	field("To", v.Recipient.Name)
	field("Subject", v.Subject)
	field("Date", v.CreatedAt.Local().Format("2006-01-02 15:04:05 -0700"))
	field("Tracking", v.Tracking)
	for i, a := range content.Attachments {
		field("Attachment", fmt.Sprintf("%d. %s (%s, %d bytes)", i+1, a.Name, a.ContentType, a.Size))
	}
	b.WriteString("\n")
	body := termSafe(content.Body, true)
	b.WriteString(body)
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func runDecide(decision string) func(context.Context, *Env, []string) error {
	return func(ctx context.Context, e *Env, args []string) error {
		var o clientOpts
		fs := newFlags(e, decision, decision+" ID [--reason R] --server URL --id DIR [--json]")
		clientFlags(fs, e, &o)
		reason := fs.String("reason", "", "reason (refusals)")
		id, c, err := letterArgs(fs, args, &o)
		if err != nil {
			return err
		}
		var v mailbox.LetterView
		if _, err := c.JSON(ctx, "GET", "/v1/letters/"+id, nil, &v); err != nil {
			return err
		}
		d := mailbox.DecisionAccept
		if decision == "refuse" {
			d = mailbox.DecisionRefuse
		}
		jws, err := signStatement(o.id, mailbox.NewStatement(v, d, *reason, time.Now()))
		if err != nil {
			return err
		}
		raw, err := c.JSON(ctx, "POST", "/v1/letters/"+id+"/"+decision, map[string]string{"jws": jws}, &v)
		if err != nil {
			return err
		}
		if o.json {
			return printRaw(e, raw)
		}
		fmt.Fprintf(e.Stdout, "letter %s: %s\n", v.ID, v.State)
		return nil
	}
}

// signStatement signs a recipient statement with the credential's key, the
// certificate in x5c.
func signStatement(credDir string, st mailbox.Statement) (string, error) {
	cred, err := certs.LoadCredentialDir(credDir)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(cred.KeyPEM)
	if block == nil {
		return "", fmt.Errorf("%s/key.pem: no PEM block", credDir)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s/key.pem: %w", credDir, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return "", errors.New("the credential's key cannot sign")
	}
	cb, _ := pem.Decode(cred.CertPEM)
	if cb == nil {
		return "", fmt.Errorf("%s/cert.pem: no PEM block", credDir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	return signing.SignCompact(signer, []*x509.Certificate{cert}, payload)
}

func runEvidence(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "evidence", "evidence ID --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	id, c, err := letterArgs(fs, args, &o)
	if err != nil {
		return err
	}
	var out struct {
		Evidence []json.RawMessage `json:"evidence"`
	}
	raw, err := c.JSON(ctx, "GET", "/v1/letters/"+id+"/evidence", nil, &out)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	tw := tabwriter.NewWriter(e.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tEVENT\tTIME\tLOG INDEX\tREASON")
	for i, env := range out.Evidence {
		ev, err := signing.ParseEnvelope(env)
		if err != nil {
			return err
		}
		var p signing.Evidence
		pb, err := base64.RawURLEncoding.DecodeString(ev.Payload)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(pb, &p); err != nil {
			return err
		}
		// A refusal's reason is the recipient's, in the details; Reason is
		// the server's (a relay or a failed delivery).
		reason := p.Reason
		if reason == "" {
			reason = p.Details["reason"]
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", i+1, termSafe(string(p.Event), false), p.Time.Format(time.RFC3339), p.LogIndex, termSafe(reason, false))
	}
	return tw.Flush()
}

func runBundle(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "bundle", "bundle ID --out FILE --server URL --id DIR")
	clientFlags(fs, e, &o)
	out := fs.String("out", "", "file to write the bundle to")
	if err := parse(fs, args); err != nil {
		return err
	}
	id, err := oneID(fs)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	raw, err := c.Do(ctx, "GET", "/v1/letters/"+id+"/bundle", "", nil)
	if err != nil {
		return err
	}
	if err := writePrivate(*out, raw); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (%d bytes); check it offline with `npes verify %s --keys KEYS --ca CA` (KEYS: GET /v1/keys, obtained out of band; CA: ca.pem of a credential directory)\n", *out, len(raw), *out)
	return nil
}
