package mailmerge

import (
	"errors"
	"strings"
	"testing"

	"github.com/npes/npes/mailbox"
)

func TestParseTemplate(t *testing.T) {
	good := func(in, subject, body string) {
		t.Helper()
		tm, err := ParseTemplate([]byte(in))
		if err != nil || tm.Subject != subject || tm.Body != body {
			t.Errorf("ParseTemplate(%q) = %+v, %v", in, tm, err)
		}
	}
	bad := func(in, want string) {
		t.Helper()
		_, err := ParseTemplate([]byte(in))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTemplate(%q) = %v, want %q", in, err, want)
		}
	}
	good("Subject: Счёт\n\nТекст {{name}}\n", "Счёт", "Текст {{name}}\n")
	good("\ufeffSubject:  A \r\n\r\nB\r\nC", "A", "B\nC")
	good("Subject: A\n\n", "A", "")
	bad("Тема: A\n\nB", "first line")
	bad("Subject: A\nB", "blank line")
	bad("Subject: A", "blank line")
	bad("Subject: \xff\n\nB", "UTF-8")
}

func TestReadCSV(t *testing.T) {
	good := func(in string, rows int, lines ...int) {
		t.Helper()
		tb, err := ReadCSV([]byte(in), 10)
		if err != nil || tb.Len() != rows {
			t.Fatalf("ReadCSV(%q) = %v, %v", in, tb, err)
		}
		for i, l := range lines {
			if tb.Lines()[i] != l {
				t.Errorf("ReadCSV(%q): row %d on line %d, want %d", in, i, tb.Lines()[i], l)
			}
		}
	}
	bad := func(in, want string) {
		t.Helper()
		_, err := ReadCSV([]byte(in), 2)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadCSV(%q) = %v, want %q", in, err, want)
		}
	}
	good("name,address\nA,\"220030, Минск\"\n", 1, 2)
	good("\ufeffname;address;x\nA;220030, Минск, ул. Ленина, 1;1\n\nB;b;2\n", 2, 2, 4)
	good("name,address\n\"A\nB\",c\nD,e\n", 2, 2, 4)
	bad("name\nA\n", `no column "address"`)
	bad("name,address,name\nA,b,c\n", "twice")
	bad("name,address\n", "no recipient rows")
	bad("name,address\na,b\nc,d\ne,f\n", "more than 2")
	bad("name,address\n\"a,b\n", "CSV")
	bad("name,address\n\xff,b\n", "UTF-8")
}

func TestMerge(t *testing.T) {
	tb, err := ReadCSV([]byte("name;address;registered;print_if_unsigned;sum\n"+
		"Петров;220030, Минск;yes;10d;1,50\n"+
		"Сидоров;220030, Минск;no;;2\n"+
		"Козлов;220030, Минск;maybe;;3\n"+
		"Орлов;220030, Минск;no;10d;4\n"+
		"Лебедев;220030, Минск;yes;soon;5\n"+
		"Зайцев;220030, Минск\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := ParseTemplate([]byte("Subject: Счёт {{ sum }}\n\n{{name}}: {{sum}}"))
	ls, err := Merge(tm, tb)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line       int
		registered bool
		subject    string
		errPart    string
	}{
		{2, true, "Счёт 1,50", ""}, {3, false, "Счёт 2", ""}, {4, false, "Счёт 3", "registered"},
		{5, false, "Счёт 4", "needs registered"}, {6, true, "Счёт 5", "print_if_unsigned"}, {7, false, "", "fields"},
	}
	for i, w := range want {
		l := ls[i]
		var de *mailbox.Error
		switch {
		case l.Line != w.line || l.Subject != w.subject:
			t.Errorf("row %d: %+v", i, l)
		case w.errPart == "" && l.Err != nil:
			t.Errorf("row %d: unexpected %v", i, l.Err)
		case w.errPart != "" && (!errors.As(l.Err, &de) || de.Code != "bad_row" || !strings.Contains(de.Message, w.errPart)):
			t.Errorf("row %d: error %v, want bad_row with %q", i, l.Err, w.errPart)
		case w.errPart == "" && l.Registered != w.registered:
			t.Errorf("row %d: registered %v", i, l.Registered)
		}
	}
	if sub := ls[0].Submission(); sub.PrintIfUnsignedAfter.Hours() != 240 || !sub.Registered || sub.Body != "Петров: 1,50" {
		t.Errorf("submission %+v", sub)
	}
	if _, err := Merge(mustTemplate(t, "Subject: {{missing}}\n\nx"), tb); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "{{missing}}") {
		t.Errorf("a placeholder without a column: %v", err)
	}
}

func mustTemplate(t *testing.T, s string) Template {
	t.Helper()
	tm, err := ParseTemplate([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
