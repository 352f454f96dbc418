package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/npes/npes/internal/cli"
)

type run struct {
	code           int
	stdout, stderr string
}

func runAddress(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.RunAddress(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return run{code, out.String(), errOut.String()}
}

var jsonKeys = []string{"building", "district", "error", "house", "mailbox_error", "match_key", "postcode",
	"poste_restante", "region", "rest", "settlement", "settlement_type", "street", "street_type", "unit", "warnings"}

// decodeLines decodes one JSON object per line and checks the key set.
func decodeLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, jsonKeys) {
			t.Fatalf("keys %v, want exactly %v", keys, jsonKeys)
		}
		if _, ok := m["warnings"].([]any); !ok {
			t.Fatalf("warnings = %#v, want an array", m["warnings"])
		}
		objs = append(objs, m)
	}
	return objs
}

func TestAddressParseJSON(t *testing.T) {
	t.Parallel()
	r := runAddress(t, "", "parse", "--json",
		"Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.",
		"Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102B")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	objs := decodeLines(t, r.stdout)
	if len(objs) != 2 {
		t.Fatalf("%d objects, want 2", len(objs))
	}
	want := map[string]any{"postcode": "220088", "region": "BY-HM", "settlement_type": "г.", "settlement": "Минск",
		"street_type": "ул.", "street": "Первомайская", "house": "24", "building": "2", "unit": "пом. 102Б",
		"rest": "", "district": "", "error": nil}
	for k, v := range want {
		if objs[0][k] != v {
			t.Errorf("%s = %#v, want %#v", k, objs[0][k], v)
		}
	}
	if objs[0]["match_key"] == "" || objs[0]["match_key"] != objs[1]["match_key"] {
		t.Errorf("match keys %v and %v, want equal and non-empty", objs[0]["match_key"], objs[1]["match_key"])
	}
	if !strings.Contains(r.stdout, `"street":"Первомайская"`) {
		t.Errorf("JSON does not carry the Cyrillic text as is: %s", r.stdout)
	}
}

// TestAddressParseFlagAfter: flags may follow the addresses, as in the
// other npes commands; "--" protects an address that starts with a dash.
func TestAddressParseFlagAfter(t *testing.T) {
	t.Parallel()
	r := runAddress(t, "", "parse", "220013, г.Минск, ул. Дорошевича, 8", "--json")
	if r.code != 0 || len(decodeLines(t, r.stdout)) != 1 {
		t.Fatalf("parse ADDRESS --json = %+v", r)
	}
	r = runAddress(t, "", "parse", "--json", "--", "-г. Минск, ул. Ленина, 5")
	if r.code != 0 || len(decodeLines(t, r.stdout)) != 1 {
		t.Fatalf("parse --json -- -ADDRESS = %+v", r)
	}
}

func TestAddressParseStdin(t *testing.T) {
	t.Parallel()
	in := "220013, г.Минск, ул. Дорошевича, 8\n\nул.Гагарина, г.Мозырь\n274028, г. Брест, ул. Советская, 5\n"
	r := runAddress(t, in, "parse", "--json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (one address has no house)", r.code)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "street address without a house number") {
		t.Fatalf("stderr %q, want one line about the missing house", r.stderr)
	}
	objs := decodeLines(t, r.stdout)
	if len(objs) != 3 {
		t.Fatalf("%d objects, want 3 (blank lines skipped)", len(objs))
	}
	if objs[0]["error"] != nil || objs[2]["error"] != nil {
		t.Errorf("errors %v, %v; want null", objs[0]["error"], objs[2]["error"])
	}
	if msg, _ := objs[1]["error"].(string); !strings.Contains(msg, "street address without a house number") {
		t.Errorf("error = %#v", objs[1]["error"])
	}
	if w := objs[2]["warnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "274028") {
		t.Errorf("warnings = %v, want the postcode conflict", w)
	}
}

func TestAddressParseText(t *testing.T) {
	t.Parallel()
	r := runAddress(t, "", "parse", "223056, Минский р-н, д. Колядичи, д. 147/2")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"postcode:       223056", "region:         BY-MI", "district:       Минский",
		"settlement:     д. Колядичи", "house:          147/2", "match key:      BY-MI|", "envelope:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runAddress(t, "", "parse", "abc"); r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no settlement and no postcode") {
		t.Errorf("parse abc: %+v", r)
	}
}

func TestAddressS10(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"s10", "check", "RR123456785BY"}, 0, "RR123456785BY valid\n", ""},
		{[]string{"s10", "check", "RR123456785BY", "RR473124829BY"}, 0, "RR123456785BY valid\nRR473124829BY valid\n", ""},
		{[]string{"s10", "check", "RR123456784BY"}, 1, "", "check digit"},
		{[]string{"s10", "check", "RR1234"}, 1, "", "13 characters"},
		{[]string{"s10", "check"}, 2, "", "at least one ID"},
		{[]string{"s10", "new", "47312482"}, 0, "RR473124829BY\n", ""},
		{[]string{"s10", "new", "12345678"}, 0, "RR123456785BY\n", ""},
		{[]string{"s10", "new", "0"}, 0, "RR000000005BY\n", ""},
		{[]string{"s10", "new", "100000000"}, 2, "", "out of range"},
		{[]string{"s10", "new", "-1"}, 2, "", "-1"},
		{[]string{"s10", "new", "1.5"}, 2, "", "not a number"},
		{[]string{"s10", "new", "x"}, 2, "", "not a number"},
		{[]string{"s10", "new"}, 2, "", "exactly one SERIAL"},
		{[]string{"s10", "frob"}, 2, "", "unknown command"},
		{[]string{"s10"}, 2, "", "want check"},
	} {
		r := runAddress(t, "", c.args...)
		if r.code != c.code || r.stdout != c.stdout || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("address %v = %d %q %q; want %d %q %q", c.args, r.code, r.stdout, r.stderr, c.code, c.stdout, c.stderr)
		}
		if c.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("address %v: stderr %q is not one line", c.args, r.stderr)
		}
	}
}

func TestAddressUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"parse", "--help"}} {
		if r := runAddress(t, "", args...); r.code != 0 || !strings.Contains(r.stdout, "usage: npes address parse") {
			t.Errorf("address %v = %+v, want usage on stdout and 0", args, r)
		}
	}
	for _, args := range [][]string{{}, {"frob"}, {"--frob"}, {"parse", "--frob"}} {
		r := runAddress(t, "", args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("address %v = %+v, want a usage error (2)", args, r)
		}
	}
	if r := runAddress(t, "", "parse", "--frob"); strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("stderr %q is not one line", r.stderr)
	}
}

func TestAddressParseCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := cli.RunAddress(ctx, []string{"parse"}, strings.NewReader("г. Минск, ул. Ленина, 5\n"), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "context canceled") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

// TestAddressParseMailbox: parse says whether an address could be a
// mailbox's, and why not.
func TestAddressParseMailbox(t *testing.T) {
	t.Parallel()
	r := runAddress(t, "", "parse", "--json", "220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования", "до востребования, 220030, г. Минск")
	objs := decodeLines(t, r.stdout)
	if len(objs) != 2 {
		t.Fatalf("parse = %+v", r)
	}
	if msg, _ := objs[0]["mailbox_error"].(string); !strings.Contains(msg, "poste restante is collected at the post office") {
		t.Errorf("mailbox_error = %v", objs[0]["mailbox_error"])
	}
	if objs[1]["mailbox_error"] != nil || objs[1]["poste_restante"] != true || objs[1]["match_key"] != "BY-HM|minsk||||restante@220030" {
		t.Errorf("poste restante: %v", objs[1])
	}
	r = runAddress(t, "", "parse", "220013, г. Минск, ул. Дорошевича, 8, кв. 9, у Петровых")
	if !strings.Contains(r.stdout, "not a mailbox:") || !strings.Contains(r.stdout, "у Петровых") {
		t.Errorf("text output does not say why the address is not a mailbox's: %s", r.stdout)
	}
}
