package mailbox

import "testing"

func TestNormalizeSearch(t *testing.T) {
	for in, want := range map[string]string{
		"  Счёт   ЗА\tДекабрь ": "счет за декабрь",
		"МІНСК Ўздовж":          "мінск ўздовж",
		"a\x00b\u200e\u202e":    "ab", // controls and bidirectional marks go
		"ЁЛКА":                  "елка",
	} {
		if got := NormalizeSearch(in); got != want {
			t.Errorf("NormalizeSearch(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSearchText(t *testing.T) {
	l := Letter{SenderName: "ОАО «Белтелеком»", Subject: "Счёт", RecipientName: "Иванов И. И."}
	if got := SearchText(l); got != "оао «белтелеком» \u001f счет \u001f иванов и. и." {
		t.Errorf("SearchText = %q", got)
	}
	// A recipient named by mailbox id: the sender must not find the
	// holder's name by guessing it.
	l.RecipientByMailbox = true
	if got := SearchText(l); got != "оао «белтелеком» \u001f счет" {
		t.Errorf("SearchText of a letter to a mailbox id = %q", got)
	}
}
