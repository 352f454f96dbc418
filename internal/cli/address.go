package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/npes/npes/addressing"
)

const addressUsage = `usage: npes address parse [--json] [ADDRESS...]
       npes address s10 check ID...
       npes address s10 new SERIAL

parse      parse and normalize Belarusian postal addresses (Russian, Belarusian
           or Latin); without ADDRESS, reads one address per line from stdin.
           --json prints one JSON object per address.
s10 check  validate UPU S10 item identifiers (e.g. RR123456785BY).
s10 new    print the identifier of a registered letter for an 8-digit serial.

Exit status: 0 ok, 1 an address or identifier is invalid, 2 usage error.
`

// Exit statuses of RunAddress.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
)

// RunAddress implements "npes address ...". args excludes the word
// "address". It returns the exit status: 0 when everything parsed or
// validated, 1 when an address or S10 identifier is invalid, 2 on a usage
// error. Diagnostics are one line each on stderr.
func RunAddress(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("address", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err, stdout, stderr)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, addressUsage)
		return exitUsage
	}
	switch rest[0] {
	case "parse":
		return runAddressParse(ctx, rest[1:], stdin, stdout, stderr)
	case "s10":
		return runAddressS10(rest[1:], stdout, stderr)
	case "help":
		fmt.Fprint(stdout, addressUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "address: unknown command %q (want parse or s10)\n", rest[0])
	return exitUsage
}

// helpOrUsage turns a flag parsing error into an exit status: -h/--help
// prints the usage on stdout and succeeds; anything else was already
// reported on one line by the flag package and is a usage error.
func helpOrUsage(err error, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, addressUsage)
		return exitOK
	}
	return exitUsage
}

// parseAddressFlags parses flags placed anywhere among the arguments
// ("parse ADDRESS --json"), as the other npes commands accept them: the flag
// package stops at the first positional argument, so parsing resumes after
// each one. "--" ends the flags.
func parseAddressFlags(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

func runAddressParse(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("address parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	asJSON := fs.Bool("json", false, "print one JSON object per address")
	if err := parseAddressFlags(fs, args); err != nil {
		return helpOrUsage(err, stdout, stderr)
	}
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	status := exitOK
	handle := func(raw string) error {
		a, err := addressing.Parse(raw)
		if err != nil {
			fmt.Fprintf(stderr, "address parse: %q: %v\n", raw, err)
			status = exitInvalid
		}
		if *asJSON {
			return enc.Encode(addressing.NewJSON(raw, a, err))
		}
		if err == nil {
			return writeAddressText(out, raw, a)
		}
		return nil
	}
	if addrs := fs.Args(); len(addrs) > 0 {
		for _, raw := range addrs {
			if err := ctx.Err(); err != nil {
				fmt.Fprintf(stderr, "address parse: %v\n", err)
				return exitInvalid
			}
			if err := handle(raw); err != nil {
				fmt.Fprintf(stderr, "address parse: write: %v\n", err)
				return exitInvalid
			}
		}
	} else {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 4096), 64*1024)
		for sc.Scan() {
			if err := ctx.Err(); err != nil {
				fmt.Fprintf(stderr, "address parse: %v\n", err)
				return exitInvalid
			}
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			if err := handle(line); err != nil {
				fmt.Fprintf(stderr, "address parse: write: %v\n", err)
				return exitInvalid
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(stderr, "address parse: read stdin: %v\n", err)
			return exitInvalid
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "address parse: write: %v\n", err)
		return exitInvalid
	}
	return status
}

// writeAddressText prints one address as "field: value" lines followed by
// an empty line; empty fields are left out.
func writeAddressText(w io.Writer, raw string, a addressing.Address) error {
	var b strings.Builder
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-16s%s\n", name+":", value)
		}
	}
	field("input", raw)
	field("postcode", a.Postcode)
	field("region", a.Region)
	field("district", a.District)
	field("selsoviet", a.Selsoviet)
	field("settlement", strings.TrimSpace(a.SettlementType+" "+a.Settlement))
	field("street", strings.TrimSpace(a.StreetType+" "+a.Street))
	field("house", a.House)
	field("building", a.Building)
	field("unit", a.Unit)
	field("rest", a.Rest)
	for _, warn := range a.Warnings {
		field("warning", warn)
	}
	if a.PosteRestante {
		field("poste restante", "yes")
	}
	field("match key", a.MatchKey())
	field("envelope", strings.Join(a.Lines(), " / "))
	if merr := addressing.NewJSON(raw, a, nil).MailboxError; merr != nil {
		field("not a mailbox", *merr)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func runAddressS10(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("address s10", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	if err := parseAddressFlags(fs, args); err != nil {
		return helpOrUsage(err, stdout, stderr)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "address s10: want check ID... or new SERIAL")
		return exitUsage
	}
	switch rest[0] {
	case "check":
		ids := rest[1:]
		if len(ids) == 0 {
			fmt.Fprintln(stderr, "address s10 check: want at least one ID")
			return exitUsage
		}
		status := exitOK
		for _, id := range ids {
			if err := addressing.CheckS10(id); err != nil {
				fmt.Fprintf(stderr, "address s10 check: %v\n", err)
				status = exitInvalid
				continue
			}
			fmt.Fprintf(stdout, "%s valid\n", id)
		}
		return status
	case "new":
		if len(rest) != 2 {
			fmt.Fprintln(stderr, "address s10 new: want exactly one SERIAL")
			return exitUsage
		}
		serial, err := strconv.ParseUint(rest[1], 10, 32)
		if err != nil {
			fmt.Fprintf(stderr, "address s10 new: serial %q is not a number of at most 8 digits\n", rest[1])
			return exitUsage
		}
		id, err := addressing.S10(uint32(serial))
		if err != nil {
			fmt.Fprintf(stderr, "address s10 new: %v\n", err)
			return exitUsage
		}
		fmt.Fprintln(stdout, id)
		return exitOK
	}
	fmt.Fprintf(stderr, "address s10: unknown command %q (want check or new)\n", rest[0])
	return exitUsage
}
