package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
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
	{"show", "list your mailboxes and pending recoveries", runMailboxShow},
	{"recover", "recover your mailbox when no bound credential works (lost, revoked, expired): a code goes by post", runMailboxRecover},
	{"bind", "bind another certificate of yours (renewed, on a token, an employee's) to a mailbox", runMailboxBind},
	{"endorse-passkey", "sign, with your certificate, the endorsement that binds a passkey to your mailbox", runEndorsePasskey},
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
	fs := newFlags(e, "mailbox activate", "mailbox activate --code C [--mailbox ID | --recovery ID] --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	code := fs.String("code", "", "code from the activation or recovery letter")
	id := fs.String("mailbox", "", "mailbox id (default: your only pending mailbox or recovery)")
	rec := fs.String("recovery", "", "recovery id (default: your only pending mailbox or recovery)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *code == "" {
		return usagef("--code is required")
	}
	if *id != "" && *rec != "" {
		return usagef("give --mailbox or --recovery, not both")
	}
	if *id == "" && *rec == "" {
		c, err := o.client()
		if err != nil {
			return err
		}
		if *id, *rec, err = pendingMailboxOrRecovery(ctx, c); err != nil {
			return err
		}
	}
	if *rec != "" {
		return mailboxCall(ctx, e, o, "POST", "/v1/mailboxes/recoveries/"+*rec+"/complete", map[string]string{"code": *code})
	}
	return mailboxCall(ctx, e, o, "POST", "/v1/mailboxes/"+*id+"/activate", map[string]string{"code": *code})
}

// pendingMailboxOrRecovery is the caller's only pending mailbox or
// pending recovery: the one thing a code from a letter can be for.
func pendingMailboxOrRecovery(ctx context.Context, c *client.Client) (mailboxID, recoveryID string, err error) {
	me, err := myMailboxes(ctx, c)
	if err != nil {
		return "", "", err
	}
	var ms []string
	for _, m := range me.Mailboxes {
		if m.Status == mailbox.StatusPending {
			ms = append(ms, m.ID)
		}
	}
	switch {
	case len(ms) == 1 && len(me.Recoveries) == 0:
		return ms[0], "", nil
	case len(ms) == 0 && len(me.Recoveries) == 1:
		return "", me.Recoveries[0].ID, nil
	}
	return "", "", fmt.Errorf("you have %d pending mailboxes and %d pending recoveries: name one with --mailbox or --recovery", len(ms), len(me.Recoveries))
}

// mailboxesReply is GET /v1/mailboxes/me.
type mailboxesReply struct {
	Mailboxes []struct {
		ID          string    `json:"id"`
		Status      string    `json:"status"`
		Address     string    `json:"address"`
		MailAddress string    `json:"mail_address"`
		CreatedAt   time.Time `json:"created_at"`
	} `json:"mailboxes"`
	Recoveries []struct {
		ID        string    `json:"id"`
		Mailbox   string    `json:"mailbox"`
		Status    string    `json:"status"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"recoveries"`
	raw []byte
}

func myMailboxes(ctx context.Context, c *client.Client) (mailboxesReply, error) {
	var me mailboxesReply
	raw, err := c.JSON(ctx, "GET", "/v1/mailboxes/me", nil, &me)
	me.raw = raw
	return me, err
}

func runMailboxRecover(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox recover", "mailbox recover --address A --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	address := fs.String("address", "", "postal address of your mailbox, as registered")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *address == "" {
		return usagef("--address is required")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var r struct{ ID, Mailbox, Status string }
	raw, err := c.JSON(ctx, "POST", "/v1/mailboxes/recoveries", map[string]string{"address": *address}, &r)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	fmt.Fprintf(e.Stdout, "recovery %s of mailbox %s: %s\n", r.ID, r.Mailbox, r.Status)
	fmt.Fprintln(e.Stdout, "a code is on its way by post to the mailbox's address; then run `npes mailbox activate --code CODE`")
	return nil
}

func runMailboxBind(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox bind", "mailbox bind --cert FILE [--label L] [--mailbox ID] --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	certFile := fs.String("cert", "", "PEM certificate to bind (of the same person or organization)")
	label := fs.String("label", "", "name of the certificate among an organization's (for example the employee's)")
	id := fs.String("mailbox", "", "mailbox id (default: your only mailbox)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *certFile == "" {
		return usagef("--cert is required")
	}
	pemBytes, err := os.ReadFile(*certFile)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	if *id == "" {
		me, err := myMailboxes(ctx, c)
		if err != nil {
			return err
		}
		if len(me.Mailboxes) != 1 {
			return fmt.Errorf("you have %d mailboxes: name one with --mailbox", len(me.Mailboxes))
		}
		*id = me.Mailboxes[0].ID
	}
	var cr struct {
		Identity, Serial, Label string
	}
	raw, err := c.JSON(ctx, "POST", "/v1/mailboxes/"+*id+"/credentials", map[string]string{"certificate": string(pemBytes), "label": *label}, &cr)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	fmt.Fprintf(e.Stdout, "certificate %s bound to mailbox %s\n", cr.Serial, *id)
	return nil
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
	me, err := myMailboxes(ctx, c)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, me.raw)
	}
	if len(me.Mailboxes) == 0 && len(me.Recoveries) == 0 {
		fmt.Fprintln(e.Stdout, "no mailboxes yet: `npes mailbox register --address A`")
		fmt.Fprintln(e.Stdout, "lost the credential of a mailbox you have? `npes mailbox recover --address A`")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 2, 4, 2, ' ', 0)
	if len(me.Mailboxes) > 0 {
		fmt.Fprintln(tw, "ID\tSTATUS\tADDRESS\tMAIL ADDRESS\tCREATED")
		for _, m := range me.Mailboxes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Status, termSafe(m.Address, false), m.MailAddress, m.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
	}
	if len(me.Recoveries) > 0 {
		if len(me.Mailboxes) > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintln(tw, "RECOVERY\tSTATUS\tMAILBOX\tSTARTED")
		for _, r := range me.Recoveries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Mailbox, r.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(me.Recoveries) > 0 {
		fmt.Fprintln(e.Stdout, "complete a recovery with the code from its letter: `npes mailbox activate --code CODE`")
	}
	return nil
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
	me, err := myMailboxes(ctx, c)
	if err != nil {
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
	{"verify-address", "operator: prove a pending mailbox's address, or complete a recovery, at a counter", runAdminVerifyAddress},
}

func runAdminVerifyAddress(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "admin verify-address", "admin verify-address (MAILBOX_ID | --recovery ID) --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	rec := fs.String("recovery", "", "complete this pending recovery (the holder showed an identity document and proof of address)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *rec != "" {
		if fs.NArg() != 0 {
			return usagef("give a MAILBOX_ID or --recovery, not both")
		}
		return mailboxCall(ctx, e, o, "POST", "/v1/admin/recoveries/"+*rec+"/verify", nil)
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
	fs := newFlags(e, "send", "send --to-name N --to-address A [--registered] [--subject S] [--body TEXT | --body-file F] [--attach FILE]... [--print-if-unsigned PERIOD] [--acceptance-period PERIOD] [--language be|ru] [--in-reply-to ID] --server URL --id DIR")
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
	inReplyTo := fs.String("in-reply-to", "", "the ID of a letter you sent or received that this letter answers")
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
	if *inReplyTo != "" {
		letter["in_reply_to"] = *inReplyTo
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
		jws, err := signStatement(&o, mailbox.NewStatement(v, d, *reason, time.Now()))
		if err != nil {
			return err
		}
		return postLetterAction(ctx, e, &o, c, id, decision, map[string]string{"jws": jws})
	}
}

// postLetterAction posts an action on a letter (accept, refuse, recall) and
// prints the letter's new state, or the reply with --json.
func postLetterAction(ctx context.Context, e *Env, o *clientOpts, c *client.Client, id, action string, body any) error {
	var v mailbox.LetterView
	raw, err := c.JSON(ctx, "POST", "/v1/letters/"+id+"/"+action, body, &v)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	fmt.Fprintf(e.Stdout, "letter %s: %s\n", v.ID, v.State)
	return nil
}

func runRecall(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "recall", "recall ID --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	id, c, err := letterArgs(fs, args, &o)
	if err != nil {
		return err
	}
	return postLetterAction(ctx, e, &o, c, id, "recall", nil)
}

func runThread(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "thread", "thread ID --server URL --id DIR [--json]")
	clientFlags(fs, e, &o)
	id, c, err := letterArgs(fs, args, &o)
	if err != nil {
		return err
	}
	var th struct {
		Letters []mailbox.LetterView `json:"letters"`
	}
	raw, err := c.JSON(ctx, "GET", "/v1/letters/"+id+"/thread", nil, &th)
	if err != nil {
		return err
	}
	if o.json {
		return printRaw(e, raw)
	}
	for _, v := range th.Letters {
		fmt.Fprintf(e.Stdout, "%s  %s  %-5s  %-20s %s\n", v.CreatedAt.Format(time.RFC3339), v.ID, v.Folder, v.State, v.Subject)
	}
	return nil
}

// signStatement signs a recipient statement with the credential's key
// (key.pem, or the key on the token --pkcs11 names), the certificate in
// x5c.
func signStatement(o *clientOpts, st mailbox.Statement) (string, error) {
	payload, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	return signWithCredential(o, payload)
}

// signWithCredential signs payload as a compact JWS with the credential's
// key (key.pem, or the token's), the certificate in x5c.
func signWithCredential(o *clientOpts, payload []byte) (string, error) {
	key, err := o.key()
	if err != nil {
		return "", err
	}
	var cred certs.Credential
	if key == nil {
		cred, err = certs.LoadCredentialDir(o.id)
	} else {
		cred, err = certs.LoadCredentialDirWithKey(o.id, key, "the token's key")
	}
	if err != nil {
		return "", err
	}
	return signing.SignCompact(cred.Key, []*x509.Certificate{cred.Cert}, payload)
}

// runEndorsePasskey prints the endorsement a passkey binding needs
// (mailbox.PasskeyBinding): a browser cannot sign with the certificate's
// key, so the holder signs it here, offline, and pastes it into the portal.
// The passkey is named by the portal's request file (--request) or by
// flags.
func runEndorsePasskey(_ context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "mailbox endorse-passkey", "mailbox endorse-passkey (--request FILE | --mailbox ID --credential-id B64URL --jwk FILE --rp-id HOST) --id DIR [--pkcs11 URI]")
	clientFlags(fs, e, &o)
	reqFile := fs.String("request", "", "the endorsement request the web portal offers for a passkey made in the browser (it names the mailbox, credential id, key and RP ID)")
	box := fs.String("mailbox", "", "the mailbox the passkey is for")
	credID := fs.String("credential-id", "", "the passkey's credential id, base64url without padding")
	jwkFile := fs.String("jwk", "", "file with the passkey's public key as a JWK (ES256 P-256 or EdDSA Ed25519)")
	rpID := fs.String("rp-id", "", "the server's WebAuthn RP ID (the host name of NPES_WEB_ORIGIN)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if o.id == "" {
		return usagef("--id is required")
	}
	var req *signing.PasskeyEndorsementRequest
	if *reqFile != "" {
		if *box != "" || *credID != "" || *jwkFile != "" || *rpID != "" {
			return usagef("--request names the passkey: give no --mailbox, --credential-id, --jwk or --rp-id with it")
		}
		raw, err := readBounded(*reqFile, 64<<10)
		if err != nil {
			return err
		}
		if req, err = signing.ParsePasskeyEndorsementRequest(raw); err != nil {
			return fmt.Errorf("%s: %w", *reqFile, err)
		}
	} else {
		if *box == "" || *credID == "" || *jwkFile == "" || *rpID == "" {
			return usagef("give --request FILE, or --mailbox, --credential-id, --jwk and --rp-id")
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(*credID); err != nil {
			return usagef("--credential-id is not base64url without padding")
		}
		raw, err := readBounded(*jwkFile, 64<<10)
		if err != nil {
			return err
		}
		var jwk signing.JWK
		if err := json.Unmarshal(raw, &jwk); err != nil {
			return fmt.Errorf("%s: %w", *jwkFile, err)
		}
		req = &signing.PasskeyEndorsementRequest{Mailbox: *box, CredentialID: *credID, JWK: jwk, RPID: *rpID}
	}
	payload, err := json.Marshal(req.Endorsement(time.Now()))
	if err != nil {
		return err
	}
	jws, err := signWithCredential(&o, payload)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, jws)
	return nil
}

// readBounded reads a small input file, refusing one larger than limit.
func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return raw, nil
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
