package addressing_test

import (
	"errors"
	"testing"

	"github.com/npes/npes/addressing"
)

func TestMatchPersonName(t *testing.T) {
	t.Parallel()
	const ivanov = "Иванов Иван Иванович"
	for _, c := range []struct {
		written, holder string
		match           bool
	}{
		// The forms letters use.
		{"Иванову Ивану Ивановичу", ivanov, true},
		{"Иванов И.И.", ivanov, true},
		{"Иванов И. И.", ivanov, true},
		{"И.И. Иванов", ivanov, true},
		{"И.И.Иванов", ivanov, true},
		{"Иванову И.И.", ivanov, true},
		{"ИВАНОВ Иван", ivanov, true},
		{"ИВАНОВУ ИВАНУ ИВАНОВИЧУ", ivanov, true},
		{"иванов иван иванович", ivanov, true},
		{"Иванов Иван Иванович", ivanov, true},
		{"Иван Иванович Иванов", ivanov, true},
		{"Ивану Ивановичу Иванову", ivanov, true},
		{"Иванов Иван", ivanov, true},
		{"Иванов И.", ivanov, true},
		{"Иванов ИИ", ivanov, true},
		{"гр. Иванову И.И.", ivanov, true},
		{"Іванову Івану Іванавічу", ivanov, true}, // Belarusian
		{"Іваноў Іван Іванавіч", ivanov, true},
		{"Ivanov Ivan Ivanovich", ivanov, true},
		{"IVANOV I.I.", ivanov, true},
		{"Ivanov I.", ivanov, true},
		{"Ивaнов Иван", ivanov, true}, // Latin a
		// ё and е.
		{"Семёнову Петру", "Семенов Петр Сергеевич", true},
		{"Семенову П.С.", "Семёнов Пётр Сергеевич", true},
		{"Алёшиной Анне", "Алешина Анна Викторовна", true},
		// Feminine and adjectival surnames, given names in the dative.
		{"Ивановой Анне Петровне", "Иванова Анна Петровна", true},
		{"Ковальскому Сергею", "Ковальский Сергей Олегович", true},
		{"Ковальской Марии Олеговне", "Ковальская Мария Олеговна", true},
		{"Толстому Льву", "Толстой Лев Николаевич", true},
		{"Кравцу Павлу", "Кравец Павел Андреевич", true},
		{"Шевченко Ольге", "Шевченко Ольга Ивановна", true},
		{"Шевчук Анне", "Шевчук Анна Павловна", true},
		{"Кузьмичу Дмитрию", "Кузьмич Дмитрий Петрович", true},
		{"Кузьмічу Дзмітрыю", "Кузьмич Дмитрий Петрович", true},
		{"Сороке Никите", "Сорока Никита Юрьевич", true},
		{"Черных Игорю", "Черных Игорь Олегович", true},
		{"Петрову-Водкину К.С.", "Петров-Водкин Кузьма Сергеевич", true},
		// A holder without a patronymic.
		{"Smith John", "Smith John", true},
		{"Иванову Ивану Петровичу", "Иванов Иван", true},

		// Another surname.
		{"Петрову Ивану Ивановичу", ivanov, false},
		{"Иванова Анна", ivanov, false},
		{"Ивановой И.И.", ivanov, false},
		{"Иваненко И.И.", ivanov, false},
		{"Иванову Ивану Ивановичу", "Иванова Ирина Ивановна", false},
		// Conflicting initials or names.
		{"Иванов П.И.", ivanov, false},
		{"Иванов И.П.", ivanov, false},
		{"Иванов Петр", ivanov, false},
		{"Иванову Ивану Петровичу", ivanov, false},
		{"Иванов А.", "Иванов Олег Петрович", false},
		{"Иванов С.", "Иванов Шамиль Ренатович", false},
		{"Ivanov S.", "Иванов Шамиль Ренатович", false},
		// Not enough to tell family members apart.
		{"Иванову", ivanov, false},
		{"Иванов", ivanov, false},
		{"И.И.", ivanov, false},
		{"", ivanov, false},
		{"Иванов Иван Иванович", "", false},
		{"Иванов Иван Иванович Младший", ivanov, false},
	} {
		if got := addressing.MatchPersonName(c.written, c.holder); got != c.match {
			t.Errorf("MatchPersonName(%q, %q) = %v, want %v", c.written, c.holder, got, c.match)
		}
	}
}

func TestMatchOrgName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		written, holder string
		match           bool
	}{
		{"ООО «Ромашка»", "Ромашка", true},
		{"ООО \"Ромашка\"", "ООО «Ромашка»", true},
		{"Общество с ограниченной ответственностью «Ромашка»", "ООО «Ромашка»", true},
		{"«Ромашка», ООО", "ООО «Ромашка»", true},
		{"ТАА «Рамонак»", "ООО «Рамонак»", true},
		{"Romashka LLC", "ООО «Ромашка»", true},
		{"ОАО «Хлебозавод «Автомат»»", "Хлебозавод «Автомат»", true},
		{"открытое акционерное общество «Белпочта»", "РУП «Белпочта»", true},
		{"УП «Минсктранс»", "Минсктранс", true},
		{"ЧТУП «Вектор-плюс»", "ООО «Вектор-плюс»", true},
		{"ЗАО «Атлант»", "«АТЛАНТ»", true},

		{"ООО «Ромашка»", "ООО «Ромашка-2»", false},
		{"ООО «Ромашка»", "ООО «Лютик»", false},
		{"ООО «Ромашка Плюс»", "ООО «Ромашка»", false},
		{"ООО", "ОАО", false},
		{"", "", false},
	} {
		if got := addressing.MatchOrgName(c.written, c.holder); got != c.match {
			t.Errorf("MatchOrgName(%q, %q) = %v, want %v", c.written, c.holder, got, c.match)
		}
	}
}

func TestMatchOrg(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		wName, wUNP, hName, hUNP string
		match                    bool
	}{
		{"ООО «Ромашка»", "", "Ромашка", "200988541", true},
		{"Ромашка ООО", "200988541", "ООО «Ромашка»", "200988541", true},
		{"Anything", "УНП 200988541", "ООО «Ромашка»", "200 988 541", true},
		{"ООО «Ромашка»", "100000001", "ООО «Ромашка»", "200988541", false}, // a different UNP wins over the name
		{"ООО «Ромашка»", "200988542", "ООО «Ромашка»", "200988541", false}, // an invalid UNP never matches
		{"ООО «Лютик»", "", "ООО «Ромашка»", "200988541", false},
	} {
		if got := addressing.MatchOrg(c.wName, c.wUNP, c.hName, c.hUNP); got != c.match {
			t.Errorf("MatchOrg(%q, %q, %q, %q) = %v, want %v", c.wName, c.wUNP, c.hName, c.hUNP, got, c.match)
		}
	}
}

func TestNormalizeUNP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"200988541", "200988541"},
		{"УНП 200988541", "200988541"},
		{"UNP: 200 988 541", "200988541"},
		{"MA1953684", "MA1953684"},
		{"МА1953684", "MA1953684"}, // Cyrillic М and А
		{"унп ma1953684", "MA1953684"},
	} {
		got, err := addressing.NormalizeUNP(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeUNP(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "200988542", "20098854", "2009885410", "800988541", "20098854X", "ZA1953684", "MZ1953684", "19"} {
		if _, err := addressing.NormalizeUNP(bad); !errors.Is(err, addressing.ErrBadUNP) {
			t.Errorf("NormalizeUNP(%q) error = %v, want ErrBadUNP", bad, err)
		}
	}
}
