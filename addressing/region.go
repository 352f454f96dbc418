package addressing

import (
	"strings"
	"sync"
)

// Regions of Belarus as ISO 3166-2:BY subdivision codes. Minsk city is a
// subdivision of its own, distinct from the Minsk region around it.
const (
	RegionBrest     = "BY-BR"
	RegionGomel     = "BY-HO"
	RegionGrodno    = "BY-HR"
	RegionMinskCity = "BY-HM"
	RegionMinsk     = "BY-MI"
	RegionMogilev   = "BY-MA"
	RegionVitebsk   = "BY-VI"
)

// RegionOfPostcode returns the ISO 3166-2:BY code of the region a Belarusian
// postcode belongs to, from its first three digits as Belpost allocates them:
// 220 Minsk city, 222–223 Minsk region, 224–225 Brest, 210–211 Vitebsk,
// 212–213 Mogilev, 230–231 Grodno, 246–247 Gomel. ok is false when postcode
// is not six digits or its prefix is not Belarusian.
func RegionOfPostcode(postcode string) (region string, ok bool) {
	if !isPostcode(postcode) {
		return "", false
	}
	switch postcode[:3] {
	case "220":
		return RegionMinskCity, true
	case "222", "223":
		return RegionMinsk, true
	case "224", "225":
		return RegionBrest, true
	case "210", "211":
		return RegionVitebsk, true
	case "212", "213":
		return RegionMogilev, true
	case "230", "231":
		return RegionGrodno, true
	case "246", "247":
		return RegionGomel, true
	}
	return "", false
}

// isPostcode reports whether s has the shape of a postcode: six ASCII digits.
func isPostcode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// regionInfo describes one region: the names printed on envelopes and the
// spellings recognised before "обл."/"вобл."/"region".
type regionInfo struct {
	code     string
	display  [3]string // ru, be, en
	spelling []string
}

var regions = [...]regionInfo{
	{RegionBrest, [3]string{"Брестская обл.", "Брэсцкая вобл.", "Brest Region"},
		[]string{"Брестская", "Брэсцкая", "Brest", "Brestskaya", "Bresckaja"}},
	{RegionGomel, [3]string{"Гомельская обл.", "Гомельская вобл.", "Gomel Region"},
		[]string{"Гомельская", "Gomel", "Homiel", "Homel", "Gomelskaya", "Homielskaja"}},
	{RegionGrodno, [3]string{"Гродненская обл.", "Гродзенская вобл.", "Grodno Region"},
		[]string{"Гродненская", "Гродзенская", "Grodno", "Hrodna", "Grodnenskaya", "Hrodzienskaja"}},
	{RegionMinskCity, [3]string{"г. Минск", "г. Мінск", "Minsk City"}, nil},
	{RegionMinsk, [3]string{"Минская обл.", "Мінская вобл.", "Minsk Region"},
		[]string{"Минская", "Мінская", "Minsk", "Minskaya", "Minskaja", "Miensk"}},
	{RegionMogilev, [3]string{"Могилевская обл.", "Магілёўская вобл.", "Mogilev Region"},
		[]string{"Могилевская", "Магілёўская", "Mogilev", "Mogilyov", "Mahilioŭ", "Mahilyow", "Mogilevskaya", "Mahiloŭskaja"}},
	{RegionVitebsk, [3]string{"Витебская обл.", "Віцебская вобл.", "Vitebsk Region"},
		[]string{"Витебская", "Віцебская", "Vitebsk", "Viciebsk", "Vitebskaya", "Viciebskaja"}},
}

func regionByCode(code string) (regionInfo, bool) {
	for _, r := range regions {
		if r.code == code {
			return r, true
		}
	}
	return regionInfo{}, false
}

// regionIndex maps the skeleton of every region spelling to its code. It is
// built once and only read afterwards.
var regionIndex = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, 64)
	for _, r := range regions {
		for _, s := range r.spelling {
			m[fold(s)] = r.code
		}
	}
	return m
})

// regionOfName resolves a written region name ("Минская", "Мінскай",
// "Minsk") to its code.
func regionOfName(name string) (string, bool) {
	k := fold(name)
	idx := regionIndex()
	if c, ok := idx[k]; ok {
		return c, true
	}
	// Oblique cases: "Минской обл." (ой → "ai"), "Мінскай вобл.".
	if strings.HasSuffix(k, "ai") {
		if c, ok := idx[k[:len(k)-2]+"ae"]; ok {
			return c, true
		}
	}
	return "", false
}

// cities lists cities whose name alone determines the region: all cities of
// regional subordination and the district centres that are cities, each as
// "Russian|other spellings" where the Belarusian or Latin spelling has a
// different skeleton. Names shared with villages elsewhere (Городок,
// Иваново, Высокое) are left out on purpose: a wrong guess would put the
// address in the wrong region.
var cities = [...]struct {
	code  string
	names []string
}{
	{RegionMinskCity, []string{"Минск|Miensk"}},
	{RegionBrest, []string{"Брест", "Барановичи|Baranavichy", "Пинск", "Кобрин|Kobryn", "Береза|Бяроза",
		"Белоозерск", "Ганцевичи|Ганцавічы", "Дрогичин", "Жабинка", "Ивацевичи", "Лунинец", "Ляховичи",
		"Малорита", "Микашевичи", "Пружаны", "Столин", "Давид-Городок|Давыд-Гарадок"}},
	{RegionVitebsk, []string{"Витебск|Viciebsk", "Орша|Ворша", "Полоцк|Polatsk", "Новополоцк|Navapolatsk",
		"Глубокое|Глыбокае|Hlybokaye", "Лепель", "Поставы", "Браслав", "Верхнедвинск", "Докшицы", "Дубровно",
		"Миоры", "Новолукомль", "Сенно", "Толочин", "Чашники", "Дисна"}},
	{RegionGomel, []string{"Гомель|Homiel", "Мозырь|Mazyr", "Жлобин", "Светлогорск|Svetlahorsk",
		"Речица|Rechytsa", "Калинковичи|Kalinkavichy", "Рогачев|Рагачоў|Rahachow", "Добруш", "Житковичи",
		"Хойники", "Петриков", "Ельск", "Наровля", "Буда-Кошелево|Буда-Кашалёва", "Чечерск|Чачэрск",
		"Туров|Тураў", "Василевичи"}},
	{RegionGrodno, []string{"Гродно|Hrodna", "Лида", "Слоним", "Волковыск|Ваўкавыск|Vawkavysk",
		"Новогрудок|Наваградак|Navahrudak", "Сморгонь|Smarhon", "Щучин", "Ошмяны", "Мосты", "Островец",
		"Скидель|Скідаль", "Дятлово|Дзятлава", "Ивье|Іўе", "Свислочь|Свіслач"}},
	{RegionMinsk, []string{"Борисов|Barysaw", "Солигорск|Salihorsk", "Молодечно|Maladzyechna",
		"Жодино|Zhodzina", "Слуцк", "Дзержинск", "Вилейка", "Марьина Горка|Мар'іна Горка",
		"Столбцы|Стоўбцы", "Несвиж", "Смолевичи", "Заславль|Заслаўе", "Фаниполь", "Логойск",
		"Березино|Бярэзіна", "Любань", "Клецк", "Копыль", "Крупки", "Старые Дороги|Старыя Дарогі", "Узда",
		"Червень|Чэрвень", "Воложин", "Мядель|Мядзел"}},
	{RegionMogilev, []string{"Могилев|Mahilioŭ|Mahiliou|Mogilyov", "Бобруйск|Babruysk", "Горки|Horki",
		"Кричев|Крычаў", "Осиповичи|Asipovichy", "Климовичи", "Шклов", "Быхов", "Костюковичи",
		"Чаусы|Чавусы", "Чериков", "Мстиславль|Мсціслаў", "Белыничи", "Кировск", "Славгород",
		"Круглое|Круглае", "Хотимск|Хоцімск"}},
}

// cityEntry is what the city index knows of a city: its region and the
// skeleton of its Russian name, used in the match key so that Глыбокае and
// Глубокое, whose skeletons differ, are one place.
type cityEntry struct {
	code, canon string
}

var cityIndex = sync.OnceValue(func() map[string]cityEntry {
	m := make(map[string]cityEntry, 256)
	for _, c := range cities {
		for _, spellings := range c.names {
			names := strings.Split(spellings, "|")
			e := cityEntry{code: c.code, canon: fold(names[0])}
			for _, n := range names {
				m[fold(n)] = e
			}
		}
	}
	return m
})

// regionOfCity returns the region of a known city.
func regionOfCity(name string) (string, bool) {
	var buf [64]byte
	c, ok := cityIndex()[string(foldAppend(buf[:0], fixLookalikes(name)))]
	return c.code, ok
}

// districts lists the 118 districts (раёны) of Belarus by region, each as
// "Russian|Belarusian" adjective. Cities have districts of their own
// (Октябрьский р-н of Minsk, Grodno, Vitebsk, Mogilev); those are not in
// this table and a district is used for the region only outside known cities.
var districts = [...]struct {
	code  string
	names string
}{
	{RegionBrest, "Барановичский|Баранавіцкі Березовский|Бярозаўскі Брестский|Брэсцкі Ганцевичский|Ганцавіцкі " +
		"Дрогичинский|Драгічынскі Жабинковский|Жабінкаўскі Ивановский|Іванаўскі Ивацевичский|Івацэвіцкі " +
		"Каменецкий|Камянецкі Кобринский|Кобрынскі Лунинецкий|Лунінецкі Ляховичский|Ляхавіцкі " +
		"Малоритский|Маларыцкі Пинский|Пінскі Пружанский|Пружанскі Столинский|Столінскі"},
	{RegionVitebsk, "Бешенковичский|Бешанковіцкі Браславский|Браслаўскі Верхнедвинский|Верхнядзвінскі " +
		"Витебский|Віцебскі Глубокский|Глыбоцкі Городокский|Гарадоцкі Докшицкий|Докшыцкі " +
		"Дубровенский|Дубровенскі Лепельский|Лепельскі Лиозненский|Лёзненскі Миорский|Міёрскі " +
		"Оршанский|Аршанскі Полоцкий|Полацкі Поставский|Пастаўскі Россонский|Расонскі Сенненский|Сенненскі " +
		"Толочинский|Талачынскі Ушачский|Ушацкі Чашникский|Чашніцкі Шарковщинский|Шаркаўшчынскі " +
		"Шумилинский|Шумілінскі"},
	{RegionGomel, "Брагинский|Брагінскі Буда-Кошелевский|Буда-Кашалёўскі Ветковский|Веткаўскі " +
		"Гомельский|Гомельскі Добрушский|Добрушскі Ельский|Ельскі Житковичский|Жыткавіцкі " +
		"Жлобинский|Жлобінскі Калинковичский|Калінкавіцкі Кормянский|Кармянскі Лельчицкий|Лельчыцкі " +
		"Лоевский|Лоеўскі Мозырский|Мазырскі Наровлянский|Нараўлянскі Октябрьский|Акцябрскі " +
		"Петриковский|Петрыкаўскі Речицкий|Рэчыцкі Рогачевский|Рагачоўскі Светлогорский|Светлагорскі " +
		"Хойникский|Хойніцкі Чечерский|Чачэрскі"},
	{RegionGrodno, "Берестовицкий|Бераставіцкі Волковысский|Ваўкавыскі Вороновский|Воранаўскі " +
		"Гродненский|Гродзенскі Дятловский|Дзятлаўскі Зельвенский|Зэльвенскі Ивьевский|Іўеўскі " +
		"Кореличский|Карэліцкі Лидский|Лідскі Мостовский|Мастоўскі Новогрудский|Навагрудскі " +
		"Островецкий|Астравецкі Ошмянский|Ашмянскі Свислочский|Свіслацкі Слонимский|Слонімскі " +
		"Сморгонский|Смаргонскі Щучинский|Шчучынскі"},
	{RegionMinsk, "Березинский|Бярэзінскі Борисовский|Барысаўскі Вилейский|Вілейскі Воложинский|Валожынскі " +
		"Дзержинский|Дзяржынскі Клецкий|Клецкі Копыльский|Капыльскі Крупский|Крупскі Логойский|Лагойскі " +
		"Любанский|Любанскі Минский|Мінскі Молодечненский|Маладзечанскі Мядельский|Мядзельскі " +
		"Несвижский|Нясвіжскі Пуховичский|Пухавіцкі Слуцкий|Слуцкі Смолевичский|Смалявіцкі " +
		"Солигорский|Салігорскі Стародорожский|Старадарожскі Столбцовский|Стаўбцоўскі Узденский|Уздзенскі " +
		"Червенский|Чэрвеньскі"},
	{RegionMogilev, "Белыничский|Бялыніцкі Бобруйский|Бабруйскі Быховский|Быхаўскі Глусский|Глускі " +
		"Горецкий|Горацкі Дрибинский|Дрыбінскі Кировский|Кіраўскі Климовичский|Клімавіцкі " +
		"Кличевский|Клічаўскі Костюковичский|Касцюковіцкі Краснопольский|Краснапольскі Кричевский|Крычаўскі " +
		"Круглянский|Круглянскі Могилевский|Магілёўскі Мстиславский|Мсціслаўскі Осиповичский|Асіповіцкі " +
		"Славгородский|Слаўгарадскі Хотимский|Хоцімскі Чаусский|Чавускі Чериковский|Чэрыкаўскі " +
		"Шкловский|Шклоўскі"},
}

// districtStem reduces a district skeleton to its stem, so that the
// adjective endings of Russian (-ский), Belarusian (-скі) and Latin (-skiy,
// or none: "Minsk District") meet.
func districtStem(k string) string {
	k = strings.TrimSuffix(k, "i")
	k = strings.TrimSuffix(k, "ag") // Belarusian genitive -ага: "Мінскага р-на"
	return k
}

var districtIndex = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, 256)
	for _, d := range districts {
		for _, pair := range strings.Fields(d.names) {
			for _, n := range strings.Split(pair, "|") {
				m[districtStem(fold(n))] = d.code
			}
		}
	}
	return m
})

// regionOfDistrict returns the region of a rural district written as an
// adjective ("Минский", "Барысаўскі") or a bare Latin name ("Minsk").
func regionOfDistrict(name string) (string, bool) {
	idx := districtIndex()
	k := fold(name)
	if c, ok := idx[districtStem(k)]; ok {
		return c, true
	}
	// "Minsk District": the Latin name is the city's, without -ский.
	if c, ok := idx[districtStem(fold(name+"ский"))]; ok {
		return c, true
	}
	return "", false
}

// streetLexicon maps the skeletons of Belarusian street names that are
// different words from their Russian equivalents onto the Russian ones, so
// that "вул. Першамайская" and "ул. Первомайская" share a match key. Stems
// are replaced where both languages inflect alike; whole words where the
// endings differ. Only names frequent in Belarus are listed; everything else
// relies on the phonetic fold.
type lexicon struct {
	stems [][2]string
	words map[string]string
}

var streetLexicon = sync.OnceValue(func() lexicon {
	stems := [...][2]string{
		{"Першамайск", "Первомайск"},
		{"Незалежнасц", "Независимост"},
		{"Кастрычніцк", "Октябрьск"},
		{"Перамог", "Побед"},
		{"Чырвонаармейск", "Красноармейск"},
		{"Вызвален", "Освобожден"},
		{"Калгасн", "Колхозн"},
		{"Паўночн", "Северн"},
		{"Паўднёв", "Южн"},
		{"Чыгуначн", "Железнодорожн"},
		{"Сацыялістычн", "Социалистическ"},
		{"Камуністычн", "Коммунистическ"},
		{"Гандлёв", "Торгов"},
	}
	words := [...][2]string{
		{"Пераможцаў", "Победителей"},
		{"Будаўнікоў", "Строителей"},
		{"Усходняя", "Восточная"},
		{"Заходняя", "Западная"},
		{"Міру", "Мира"},
	}
	lx := lexicon{words: make(map[string]string, len(words))}
	for _, p := range stems {
		lx.stems = append(lx.stems, [2]string{fold(p[0]), fold(p[1])})
	}
	for _, p := range words {
		lx.words[fold(p[0])] = fold(p[1])
	}
	return lx
})

// streetWordKey appends the skeleton of one word of a street name with the
// Belarusian-to-Russian lexicon applied.
func streetWordKey(dst []byte, w string) []byte {
	start := len(dst)
	dst = foldAppend(dst, w)
	k := dst[start:]
	lx := streetLexicon()
	if r, ok := lx.words[string(k)]; ok {
		return append(dst[:start], r...)
	}
	for _, p := range lx.stems {
		if len(k) >= len(p[0]) && string(k[:len(p[0])]) == p[0] {
			rest := string(k[len(p[0]):])
			dst = append(dst[:start], p[1]...)
			return append(dst, rest...)
		}
	}
	return dst
}
