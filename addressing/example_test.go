package addressing_test

import (
	"fmt"

	"github.com/npes/npes/addressing"
)

func ExampleParse() {
	a, err := addressing.Parse("Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.")
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Region, a.Settlement, a.Street, a.House, a.Building, a.Unit)
	for _, l := range a.Lines() {
		fmt.Println(l)
	}
	b, _ := addressing.Parse("Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102B")
	fmt.Println(a.MatchKey() == b.MatchKey())
	// Output:
	// BY-HM Минск Первомайская 24 2 пом. 102Б
	// ул. Первомайская, д. 24, корп. 2, пом. 102Б
	// г. Минск
	// 220088
	// true
}

func ExampleMatchPersonName() {
	fmt.Println(addressing.MatchPersonName("Иванову И.И.", "Иванов Иван Иванович"))
	fmt.Println(addressing.MatchPersonName("Иванову П.И.", "Иванов Иван Иванович"))
	// Output:
	// true
	// false
}
